// block_maxima (quant/cuda/block_maxima.cuh): zeroes the maxima and queues the pass of
// quant/cuda/block_maxima_kernels.cuh.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/queued_launch.cuh"
#include "qtorch/quant/cuda/block_maxima_kernels.cuh"

namespace qtorch::quant {

void block_maxima(const float* x, int64_t n, const QuantParams& p, uint32_t* maxima, int device,
                  cudaStream_t st) {
  QTORCH_CUDA_CHECK(cudaMemsetAsync(maxima, 0, static_cast<size_t>(p.blocks) * sizeof(uint32_t), st));
  block_maxima_kernels::run_block_maxima(x, n, p, maxima, cuda::sm_count(device), cuda::QueuedLaunch{st});
}

}  // namespace qtorch::quant
