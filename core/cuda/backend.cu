// The CUDA backend's memory entry points and synchronisation, and its registration at
// static-initialisation time (no CUDA call happens until a CUDA tensor is used).
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/allocator.h"
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"
#include "qtorch/core/cuda/index_check.h"

namespace qtorch::cuda {

float* CudaBackend::allocate(int64_t numel, Device device) {
  QTORCH_CHECK(numel >= 0, "cuda allocate: expected a non-negative size, got {}", numel);
  QTORCH_CHECK(device_count_nothrow() > 0, "cuda: {}", cuda_unavailable_reason());
  // On the tensor's own GPU (the allocator sets it around cudaMalloc), not the current one.
  return static_cast<float*>(device_alloc(static_cast<size_t>(numel) * sizeof(float), device.index));
}

void CudaBackend::deallocate(float* ptr) { device_free(ptr); }

void CudaBackend::copy_from_host(const float* host, float* dst, int64_t numel) {
  if (numel <= 0) return;
  DeviceGuard guard(device_of_pointer(dst));
  // From pageable memory the call returns once `host` has been staged, so the caller may
  // free it at once; the copy stays ordered with the kernels on this stream.
  QTORCH_CUDA_CHECK(cudaMemcpyAsync(dst, host, static_cast<size_t>(numel) * sizeof(float),
                                    cudaMemcpyHostToDevice, guard.stream()));
}

void CudaBackend::copy_to_host(const float* src, float* host, int64_t numel) {
  if (numel <= 0) return;
  DeviceGuard guard(device_of_pointer(src));
  QTORCH_CUDA_CHECK(cudaMemcpyAsync(host, src, static_cast<size_t>(numel) * sizeof(float),
                                    cudaMemcpyDeviceToHost, guard.stream()));
  wait_for_stream(guard.stream());
  raise_pending_index_error(guard.device());
}

void CudaBackend::synchronize() {
  int count = device_count_nothrow();
  for (int d = 0; d < count; ++d)
    if (cudaStream_t s = stream_if_created(d)) {
      wait_for_stream(s);
      raise_pending_index_error(d);
    }
}

namespace {
CudaBackend& instance() {
  static CudaBackend backend;
  return backend;
}
const bool registered = (register_backend(DeviceType::CUDA, &instance()), true);
}  // namespace

}  // namespace qtorch::cuda
