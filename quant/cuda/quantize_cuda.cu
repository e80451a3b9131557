// quantize_cuda and quantize_list_cuda (quant/quantize_cuda.h) on the device's stream: the
// kernels of a call are picked by quant/cuda/quantize_dispatch.cuh, a list goes into
// segments_kernel launches (quant/cuda/quantize_kernels.cuh). The counters are in
// device_counts.cu.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc

#include <optional>

#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/queued_launch.cuh"
#include "qtorch/core/cuda/scratch.h"
#include "qtorch/quant/cuda/quantize_dispatch.cuh"

namespace qtorch::quant {

void quantize_cuda(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
                   uint64_t seed, uint64_t offset, unsigned long long* counts, int device, const ElementOps& ops) {
  if (n <= 0) return;
  cuda::DeviceGuard guard(device);
  const cudaStream_t st = guard.stream();
  std::optional<cuda::Scratch<uint32_t>> scratch;  // returned once the launches are queued
  const auto zeroed = [&](int64_t count) {
    scratch.emplace(count, guard.device());
    QTORCH_CUDA_CHECK(cudaMemsetAsync(scratch->p, 0, static_cast<size_t>(count) * sizeof(uint32_t), st));
    return scratch->p;
  };
  kernels::run_quantize(x, out, mask, n, p, seed, offset, counts, ops, cuda::sm_count(guard.device()), zeroed,
                        cuda::QueuedLaunch{st});
}

void quantize_list_cuda(const std::vector<QuantizeListItem>& items, uint64_t seed, unsigned long long* counts,
                        int device) {
  if (items.empty()) return;
  cuda::DeviceGuard guard(device);
  kernels::quantize_list_in_segments(items, seed, counts, cuda::QueuedLaunch{guard.stream()}, [&](const QuantizeListItem& item) {
    quantize_cuda(item.x, item.x, nullptr, item.n, item.p, seed, item.offset, counts, device);
  });
}

}  // namespace qtorch::quant
