// The maxima pass of block floating point layouts that quantize_cuda.cu does not take in one
// launch: long rows in chunks, short rows in shared memory, anything else by global atomics.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/quant/cuda/block_maxima.cuh"
#include "qtorch/quant/quantize_cuda.h"

namespace qtorch::quant {
namespace {

using cuda::blocks_for;

constexpr int kThreads = kQuantizeThreads;

/// For rows of inner >= kLongRow elements: block b takes chunk b % chunks of row b / chunks.
constexpr int64_t kRowChunk = kThreads * 16;

__global__ void __launch_bounds__(kThreads)
    long_rows_max_kernel(const float* x, QuantParams p, int64_t chunks, uint32_t* maxima) {
  const int64_t row = blockIdx.x / chunks, chunk = blockIdx.x % chunks;
  const float* base = x + row * p.inner;
  const int64_t begin = chunk * kRowChunk, end = min(p.inner, begin + kRowChunk);
  uint32_t m = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) m = max_bits(m, abs_bits(base[i]));
  m = block_max(m);
  if (threadIdx.x == 0) atomicMax(&maxima[row % p.blocks], m);
}

/// Short rows, up to kSharedBlocks blocks: per-CUDA-block maxima in shared memory, merged
/// into the global ones at the end.
constexpr int64_t kSharedBlocks = 8192;

__global__ void __launch_bounds__(kThreads)
    short_rows_max_kernel(const float* x, int64_t n, QuantParams p, bool index32, uint32_t* maxima) {
  extern __shared__ uint32_t local[];
  for (int64_t j = threadIdx.x; j < p.blocks; j += blockDim.x) local[j] = 0;
  __syncthreads();
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    atomicMax(&local[block_of(e, p, index32)], abs_bits(x[e]));
  __syncthreads();
  for (int64_t j = threadIdx.x; j < p.blocks; j += blockDim.x)
    if (local[j] != 0) atomicMax(&maxima[j], local[j]);
}

/// Anything else: one global atomic per element.
__global__ void elementwise_max_kernel(const float* x, int64_t n, QuantParams p, bool index32, uint32_t* maxima) {
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    atomicMax(&maxima[block_of(e, p, index32)], abs_bits(x[e]));
}

}  // namespace

void block_maxima(const float* x, int64_t n, const QuantParams& p, uint32_t* maxima, int device,
                  cudaStream_t st) {
  QTORCH_CUDA_CHECK(cudaMemsetAsync(maxima, 0, static_cast<size_t>(p.blocks) * sizeof(uint32_t), st));
  const int64_t rows = p.outer * p.blocks;
  const bool index32 = n <= int64_t{UINT32_MAX};
  if (p.inner >= kLongRow) {
    const int64_t chunks = (p.inner + kRowChunk - 1) / kRowChunk;
    QTORCH_CHECK(rows * chunks < (int64_t{1} << 31), "quantize (cuda): tensor too large");
    long_rows_max_kernel<<<static_cast<unsigned>(rows * chunks), kThreads, 0, st>>>(x, p, chunks,
                                                                                  maxima);
  } else if (p.blocks <= kSharedBlocks) {
    const int64_t grid = std::min<int64_t>((n + kThreads - 1) / kThreads, 4LL * cuda::sm_count(device));
    short_rows_max_kernel<<<static_cast<unsigned>(grid), kThreads,
                            static_cast<size_t>(p.blocks) * sizeof(uint32_t), st>>>(x, n, p, index32, maxima);
  } else {
    elementwise_max_kernel<<<blocks_for(n, kThreads, 1 << 20), kThreads, 0, st>>>(x, n, p, index32, maxima);
  }
  QTORCH_CUDA_CHECK_LAUNCH();
}

}  // namespace qtorch::quant
