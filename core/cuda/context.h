// Per-device CUDA state: the one stream every kernel of a device runs on, its cuBLAS
// handle, launch properties, and a guard that makes a device current for a scope.
#pragma once

#include <cstdint>

#include "qtorch/core/cuda/cuda_check.h"
#include "qtorch/core/cuda/grid.h"  // blocks_for
#include "qtorch/core/tensor.h"

namespace qtorch::cuda {

/// Number of visible devices; 0 when there is no driver or no GPU (never throws).
int device_count_nothrow();
/// The calling thread's current device.
int current_device();
/// The stream all of qtorch's work on `device` is queued on (created on first use).
cudaStream_t stream(int device);
/// The stream of `device` if qtorch has used that device, else null (creates nothing).
cudaStream_t stream_if_created(int device);
/// The cuBLAS handle of `device`, bound to stream(device).
cublasHandle_t cublas(int device);
/// Waits until the work queued on `s` is done; counted in host_waits() (core/cuda/host_waits.h).
void wait_for_stream(cudaStream_t s);

/// Number of multiprocessors of `device`.
int sm_count(int device);
/// The device that owns a device pointer (for raw-pointer entry points).
int device_of_pointer(const void* ptr);

/// Makes `device` current for the guard's lifetime and restores the previous one after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  /// Makes the tensor's device current; checks that it is a CUDA tensor.
  explicit DeviceGuard(const Tensor& t) : DeviceGuard(index_of(t)) {}
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }

  static int index_of(const Tensor& t);

 private:
  int device_ = 0;
  int previous_ = 0;
  cudaStream_t stream_ = nullptr;
};

}  // namespace qtorch::cuda
