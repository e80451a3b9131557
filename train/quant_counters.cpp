// Per-role quantization counts.
#include "qtorch/train/quant_counters.h"

#include <cmath>

namespace qtorch::train {

QuantCounts& QuantCounts::operator+=(const QuantCounts& o) {
  numel += o.numel;
  nonzero += o.nonzero;
  flushed += o.flushed;
  saturated += o.saturated;
  return *this;
}

QuantCounts QuantCounts::operator-(const QuantCounts& o) const {
  return {numel - o.numel, nonzero - o.nonzero, flushed - o.flushed, saturated - o.saturated};
}

QuantCounters::QuantCounters() {
  for (auto& c : counters_) c = std::make_shared<quant::StatsCounter>();
}

QuantCounts QuantCounters::total(Role role) const {
  const QuantStats s = counter(role)->read();
  return {s.numel, nonzero_[static_cast<int>(role)].load(std::memory_order_relaxed), s.flushed, s.clamped};
}

void QuantCounters::add_nonzero(Role role, int64_t count) {
  if (!paused_.load(std::memory_order_relaxed))
    nonzero_[static_cast<int>(role)].fetch_add(count, std::memory_order_relaxed);
}

void QuantCounters::pause(bool paused) {
  paused_.store(paused, std::memory_order_relaxed);
  for (auto& c : counters_) c->pause(paused);
}

int64_t count_finite_nonzero(const Tensor& x) {
  const Tensor c = x.device().is_cpu() ? x.contiguous() : x.to(Device::cpu()).contiguous();
  const float* p = c.data_ptr();
  int64_t nonzero = 0;
  for (int64_t i = 0, n = c.numel(); i < n; ++i) nonzero += (p[i] != 0.0f && std::isfinite(p[i])) ? 1 : 0;
  return nonzero;
}

}  // namespace qtorch::train
