// The quantizers' device counters (quant/quantize_cuda.h): two counts per device that the
// kernels add to, read with one wait, or copied ahead into page-locked memory so that a read
// after some other wait needs none (StatsCounter::prefetch).
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc

#include <memory>

#include "qtorch/core/cuda/allocator.h"
#include "qtorch/core/cuda/context.h"
#include "qtorch/quant/quantize_cuda.h"

namespace qtorch::quant {

unsigned long long* alloc_device_counts(int device) {
  cuda::DeviceGuard guard(device);
  auto* counts = static_cast<unsigned long long*>(cuda::device_alloc(2 * sizeof(unsigned long long), device));
  QTORCH_CUDA_CHECK(cudaMemsetAsync(counts, 0, 2 * sizeof(unsigned long long), guard.stream()));
  return counts;
}

void read_device_counts(const unsigned long long* counts, int device, unsigned long long host[2]) {
  cuda::DeviceGuard guard(device);
  QTORCH_CUDA_CHECK(cudaMemcpyAsync(host, counts, 2 * sizeof(unsigned long long), cudaMemcpyDeviceToHost,
                                    guard.stream()));
  cuda::wait_for_stream(guard.stream());
}

void free_device_counts(unsigned long long* counts) { cuda::device_free(counts); }

struct CountsPrefetch {
  int device;
  unsigned long long* host;  // 2 values, page-locked, so that the copy is asynchronous
  cudaEvent_t copied;
};

CountsPrefetch* alloc_counts_prefetch(int device) {
  cuda::DeviceGuard guard(device);
  auto slot = std::make_unique<CountsPrefetch>(CountsPrefetch{device, nullptr, nullptr});
  QTORCH_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&slot->host), 2 * sizeof(unsigned long long)));
  const cudaError_t made = cudaEventCreateWithFlags(&slot->copied, cudaEventDisableTiming);
  if (made != cudaSuccess) cudaFreeHost(slot->host);
  QTORCH_CUDA_CHECK(made);
  return slot.release();
}

void free_counts_prefetch(CountsPrefetch* slot) {
  if (slot == nullptr) return;
  cudaEventSynchronize(slot->copied);  // a copy still under way must not land in freed memory
  cudaEventDestroy(slot->copied);
  cudaFreeHost(slot->host);
  delete slot;
}

void prefetch_device_counts(const unsigned long long* counts, CountsPrefetch* slot) {
  cuda::DeviceGuard guard(slot->device);
  QTORCH_CUDA_CHECK(cudaMemcpyAsync(slot->host, counts, 2 * sizeof(unsigned long long), cudaMemcpyDeviceToHost,
                                    guard.stream()));
  QTORCH_CUDA_CHECK(cudaEventRecord(slot->copied, guard.stream()));
}

bool prefetched_counts(const CountsPrefetch* slot, unsigned long long host[2]) {
  const cudaError_t state = cudaEventQuery(slot->copied);
  if (state == cudaErrorNotReady) return false;
  QTORCH_CUDA_CHECK(state);
  host[0] = slot->host[0];
  host[1] = slot->host[1];
  return true;
}

}  // namespace qtorch::quant
