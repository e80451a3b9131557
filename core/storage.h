// A reference-counted block of float32 memory on one device.
#pragma once

#include <atomic>
#include <cstdint>

#include "qtorch/core/device.h"

namespace qtorch {

/// Owns `numel` floats on `device`; allocation goes through that device's backend
/// (an aligned heap block on the CPU, the caching allocator on CUDA).
class Storage {
 public:
  Storage(int64_t numel, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  float* data() const { return data_; }
  int64_t numel() const { return numel_; }
  Device device() const { return device_; }

  /// How many in-place writes this memory has had (PyTorch's version counter; every view of
  /// the storage shares it). Autograd compares it with the count a tensor saved for backward
  /// had when it was saved (autograd/node.h, SavedTensor).
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  float* data_ = nullptr;
  int64_t numel_ = 0;
  Device device_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace qtorch
