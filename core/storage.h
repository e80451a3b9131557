// A reference-counted block of float32 memory on one device.
#pragma once

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

 private:
  float* data_ = nullptr;
  int64_t numel_ = 0;
  Device device_;
};

}  // namespace qtorch
