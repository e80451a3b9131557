// Quantization counts summed where the data lives. A quantize call given a StatsCounter
// (QuantizeOptions::counter) adds its counts without waiting for the device: a CUDA kernel
// adds into device memory with atomics, a CPU call adds on the host. read() waits once for
// the work queued so far and returns the totals, so a training step can count every
// quantizer and read the counts once per step, or once per epoch, instead of once per call.
// prefetch() queues the copy ahead, so that a read after some other wait for the device
// (a loss scaler's inf/NaN probe) does not wait again.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "qtorch/quant/kernel_params.h"

namespace qtorch::quant {

struct CountsPrefetch;  // quant/quantize_cuda.h

class StatsCounter {
 public:
  StatsCounter() = default;
  ~StatsCounter();
  StatsCounter(const StatsCounter&) = delete;
  StatsCounter& operator=(const StatsCounter&) = delete;

  /// Totals of every call counted so far. Waits for a device only when a call on it was
  /// counted since the last read, and no prefetch() copy made since the last such call
  /// has already arrived.
  QuantStats read() const;
  /// Queues a copy of the device counts to the host without waiting. A read() that finds
  /// the copy arrived (the device's queue was waited for meanwhile, e.g. by a loss value's
  /// item()) and no call counted since then takes its values and does not wait.
  void prefetch() const;

  /// While paused, quantize calls given this counter count nothing (e.g. during evaluation).
  void pause(bool paused) { paused_.store(paused); }
  bool paused() const { return paused_.load(); }

  // ---- used by quantize ----
  /// Adds counts made on the host (a CPU call's counts, and every call's numel).
  void add_host(const QuantStats& stats);
  /// The device counters of CUDA device `device`: [0] clamped, [1] flushed, zeroed when first
  /// asked for; a kernel adds into them. Marks the counter as having device work to read.
  /// The caller queues its kernel and then calls queued().
  unsigned long long* device_counts(int device);
  /// Says that a kernel given device_counts() has been queued: an earlier prefetch() no
  /// longer holds every count.
  void queued();

 private:
  struct DeviceCounts {
    int device;
    unsigned long long* counts;
    CountsPrefetch* prefetch;  // null until the first prefetch()
  };
  /// The prefetched totals, when every device's copy has arrived and nothing was counted
  /// since; false otherwise. mutex_ held.
  bool prefetched_totals(QuantStats& totals) const;
  std::atomic<int64_t> clamped_{0}, flushed_{0}, numel_{0};
  std::atomic<bool> paused_{false};
  mutable std::mutex mutex_;  // guards the members below
  mutable std::vector<DeviceCounts> devices_;  // mutable: prefetch() makes its slots
  mutable bool device_pending_ = false;
  mutable QuantStats device_totals_{};  // as of the last read
  uint64_t generation_ = 0;             // bumped by device_counts() and queued()
  mutable bool prefetched_ = false;     // a prefetch() was queued at prefetched_generation_
  mutable uint64_t prefetched_generation_ = 0;
};

}  // namespace qtorch::quant
