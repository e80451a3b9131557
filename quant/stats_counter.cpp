// StatsCounter: host counts in atomics, device counts in device memory read on demand.
#include "qtorch/quant/stats_counter.h"

#include "qtorch/quant/quantize_cuda.h"

namespace qtorch::quant {

StatsCounter::~StatsCounter() {
  for (const DeviceCounts& d : devices_) free_device_counts(d.counts);
}

QuantStats StatsCounter::read() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (device_pending_) {
    QuantStats totals{};
    for (const DeviceCounts& d : devices_) {
      unsigned long long host[2] = {0, 0};
      read_device_counts(d.counts, d.device, host);
      totals.clamped += static_cast<int64_t>(host[0]);
      totals.flushed += static_cast<int64_t>(host[1]);
    }
    device_totals_ = totals;
    device_pending_ = false;
  }
  return QuantStats{clamped_.load() + device_totals_.clamped, flushed_.load() + device_totals_.flushed,
                    numel_.load()};
}

void StatsCounter::add_host(const QuantStats& stats) {
  clamped_ += stats.clamped;
  flushed_ += stats.flushed;
  numel_ += stats.numel;
}

unsigned long long* StatsCounter::device_counts(int device) {
  std::lock_guard<std::mutex> lock(mutex_);
  device_pending_ = true;
  for (const DeviceCounts& d : devices_)
    if (d.device == device) return d.counts;
  devices_.reserve(devices_.size() + 1);  // so that push_back cannot throw after the allocation
  devices_.push_back({device, alloc_device_counts(device)});
  return devices_.back().counts;
}

}  // namespace qtorch::quant
