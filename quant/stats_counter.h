// Quantization counts summed where the data lives. A quantize call given a StatsCounter
// (QuantizeOptions::counter) adds its counts without waiting for the device: a CUDA kernel
// adds into device memory with atomics, a CPU call adds on the host. read() waits once for
// the work queued so far and returns the totals, so a training step can count every
// quantizer and read the counts once per step, or once per epoch, instead of once per call.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "qtorch/quant/kernel_params.h"

namespace qtorch::quant {

class StatsCounter {
 public:
  StatsCounter() = default;
  ~StatsCounter();
  StatsCounter(const StatsCounter&) = delete;
  StatsCounter& operator=(const StatsCounter&) = delete;

  /// Totals of every call counted so far. Waits for a device only when a call on it was
  /// counted since the last read.
  QuantStats read() const;

  /// While paused, quantize calls given this counter count nothing (e.g. during evaluation).
  void pause(bool paused) { paused_.store(paused); }
  bool paused() const { return paused_.load(); }

  // ---- used by quantize ----
  /// Adds counts made on the host (a CPU call's counts, and every call's numel).
  void add_host(const QuantStats& stats);
  /// The device counters of CUDA device `device`: [0] clamped, [1] flushed, zeroed when first
  /// asked for; a kernel adds into them. Marks the counter as having device work to read.
  unsigned long long* device_counts(int device);

 private:
  struct DeviceCounts {
    int device;
    unsigned long long* counts;
  };
  std::atomic<int64_t> clamped_{0}, flushed_{0}, numel_{0};
  std::atomic<bool> paused_{false};
  mutable std::mutex mutex_;  // guards the members below
  std::vector<DeviceCounts> devices_;
  mutable bool device_pending_ = false;
  mutable QuantStats device_totals_{};  // as of the last read
};

}  // namespace qtorch::quant
