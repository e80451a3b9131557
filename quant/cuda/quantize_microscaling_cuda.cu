// quantize_microscaling_cuda: the launches of quant/cuda/microscaling_kernels.cuh (the
// kernels of MX and NVFP4, and which layout takes which) on the device's stream.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/quant/cuda/quantize_microscaling_cuda.h"

#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/queued_launch.cuh"
#include "qtorch/quant/cuda/microscaling_kernels.cuh"
#include "qtorch/core/cuda/scratch.h"

namespace qtorch::quant {
using namespace microscaling_kernels;

void quantize_microscaling_cuda(const float* x, float* out, float* mask, int64_t n,
                                const QuantParams& p, uint64_t seed, uint64_t offset,
                                unsigned long long* counters, int device, cudaStream_t stream) {
  QTORCH_CHECK(p.family == QuantFamily::MX || p.family == QuantFamily::NVFP4,
               "quantize_microscaling_cuda: expected an MX or NVFP4 format, got family {}",
               static_cast<int>(p.family));
  if (n <= 0) return;
  const Layout l = layout_of(p, n);
  const cuda::QueuedLaunch launch{stream};
  if (p.family == QuantFamily::MX) {
    launch_microscaling(x, out, mask, n, p, l, seed, offset, nullptr, counters, launch);
    return;
  }
  cuda::Scratch<uint32_t> max_finite(1, device);
  QTORCH_CUDA_CHECK(cudaMemsetAsync(max_finite.p, 0, sizeof(uint32_t), stream));
  launch(max_finite_abs_kernel, max_finite_grid(n, cuda::sm_count(device)), kThreads, x, n, max_finite.p);
  launch_microscaling(x, out, mask, n, p, l, seed, offset, max_finite.p, counters, launch);
}

}  // namespace qtorch::quant
