// StatsCounter: host counts in atomics, device counts in device memory read on demand.
#include "qtorch/quant/stats_counter.h"

#include "qtorch/quant/quantize_cuda.h"

namespace qtorch::quant {

StatsCounter::~StatsCounter() {
  for (const DeviceCounts& d : devices_) {
    free_counts_prefetch(d.prefetch);
    free_device_counts(d.counts);
  }
}

bool StatsCounter::prefetched_totals(QuantStats& totals) const {
  if (!prefetched_ || prefetched_generation_ != generation_) return false;
  totals = QuantStats{};
  for (const DeviceCounts& d : devices_) {
    unsigned long long host[2] = {0, 0};
    if (d.prefetch == nullptr || !prefetched_counts(d.prefetch, host)) return false;
    totals.clamped += static_cast<int64_t>(host[0]);
    totals.flushed += static_cast<int64_t>(host[1]);
  }
  return true;
}

QuantStats StatsCounter::read() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (device_pending_) {
    QuantStats totals{};
    if (!prefetched_totals(totals)) {
      totals = QuantStats{};
      for (const DeviceCounts& d : devices_) {
        unsigned long long host[2] = {0, 0};
        read_device_counts(d.counts, d.device, host);
        totals.clamped += static_cast<int64_t>(host[0]);
        totals.flushed += static_cast<int64_t>(host[1]);
      }
    }
    device_totals_ = totals;
    device_pending_ = false;
    prefetched_ = false;
  }
  return QuantStats{clamped_.load() + device_totals_.clamped, flushed_.load() + device_totals_.flushed,
                    numel_.load()};
}

void StatsCounter::add_host(const QuantStats& stats) {
  clamped_ += stats.clamped;
  flushed_ += stats.flushed;
  numel_ += stats.numel;
}

void StatsCounter::prefetch() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!device_pending_) return;  // read() will not wait anyway
  for (DeviceCounts& d : devices_) {
    if (d.prefetch == nullptr) d.prefetch = alloc_counts_prefetch(d.device);
    prefetch_device_counts(d.counts, d.prefetch);
  }
  prefetched_ = true;
  prefetched_generation_ = generation_;
}

unsigned long long* StatsCounter::device_counts(int device) {
  std::lock_guard<std::mutex> lock(mutex_);
  device_pending_ = true;
  ++generation_;
  for (const DeviceCounts& d : devices_)
    if (d.device == device) return d.counts;
  devices_.reserve(devices_.size() + 1);  // so that push_back cannot throw after the allocation
  devices_.push_back({device, alloc_device_counts(device), nullptr});
  return devices_.back().counts;
}

void StatsCounter::queued() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++generation_;
}

}  // namespace qtorch::quant
