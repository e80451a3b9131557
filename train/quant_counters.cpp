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

void QuantCounters::add(Role role, const QuantStats& stats, int64_t nonzero_inputs) {
  if (paused_) return;
  totals_[static_cast<int>(role)] += QuantCounts{stats.numel, nonzero_inputs, stats.flushed, stats.clamped};
}

int64_t count_finite_nonzero(const Tensor& x) {
  const Tensor c = x.device().is_cpu() ? x.contiguous() : x.to(Device::cpu()).contiguous();
  const float* p = c.data_ptr();
  int64_t nonzero = 0;
  for (int64_t i = 0, n = c.numel(); i < n; ++i) nonzero += (p[i] != 0.0f && std::isfinite(p[i])) ? 1 : 0;
  return nonzero;
}

}  // namespace qtorch::train
