// The maxima pass of the block floating point layouts that quantize_cuda does not take in
// one launch (quant/cuda/quantize_dispatch.cuh runs it): long rows in chunks, short rows in shared
// memory, anything else by global atomics. An integer max over the magnitude bits, so the
// order of the atomics does not matter. Plain C++ apart from the CUDA keywords and
// intrinsics that tests/support/cuda_emulation.h provides (tests/quant/
// quantize_kernels_emulated_test.cpp runs it on the CPU).
#pragma once

#include <algorithm>
#include <cstdint>

#include "qtorch/core/error.h"
#include "qtorch/core/hostdevice.h"
#include "qtorch/quant/cuda/block_maxima.cuh"
#include "qtorch/quant/quantize_cuda.h"

namespace qtorch::quant::block_maxima_kernels {

/// For rows of inner >= kLongRow elements: block b takes chunk b % chunks of row b / chunks.
inline constexpr int64_t kRowChunk = kQuantizeThreads * 16;

__global__ void __launch_bounds__(kQuantizeThreads)
    long_rows_max_kernel(const float* x, QuantParams p, int64_t chunks, uint32_t* maxima) {
  const int64_t row = blockIdx.x / chunks, chunk = blockIdx.x % chunks;
  const float* base = x + row * p.inner;
  const int64_t begin = chunk * kRowChunk, end = p.inner < begin + kRowChunk ? p.inner : begin + kRowChunk;
  uint32_t m = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) m = max_bits(m, abs_bits(base[i]));
  m = block_max(m);
  if (threadIdx.x == 0) atomicMax(&maxima[row % p.blocks], m);
}

/// Short rows, up to kSharedBlocks blocks: per-CUDA-block maxima in shared memory, merged
/// into the global ones at the end.
inline constexpr int64_t kSharedBlocks = 8192;

__global__ void __launch_bounds__(kQuantizeThreads)
    short_rows_max_kernel(const float* x, int64_t n, QuantParams p, bool index32, uint32_t* maxima) {
  QTORCH_EXTERN_SHARED uint32_t block_maxima_shared[];
  for (int64_t j = threadIdx.x; j < p.blocks; j += blockDim.x) block_maxima_shared[j] = 0;
  __syncthreads();
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    atomicMax(&block_maxima_shared[block_of(e, p, index32)], abs_bits(x[e]));
  __syncthreads();
  for (int64_t j = threadIdx.x; j < p.blocks; j += blockDim.x)
    if (block_maxima_shared[j] != 0) atomicMax(&maxima[j], block_maxima_shared[j]);
}

/// Anything else: one global atomic per element.
__global__ void elementwise_max_kernel(const float* x, int64_t n, QuantParams p, bool index32, uint32_t* maxima) {
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    atomicMax(&maxima[block_of(e, p, index32)], abs_bits(x[e]));
}

/// The maxima pass into zeroed maxima[0..p.blocks): the kernel for the layout, run with
/// launch(kernel, grid, threads, args...); `multiprocessors` bounds the short rows' grid.
template <class Launch>
void run_block_maxima(const float* x, int64_t n, const QuantParams& p, uint32_t* maxima, int multiprocessors,
                      Launch launch) {
  const int64_t rows = p.outer * p.blocks;
  const bool index32 = n <= int64_t{UINT32_MAX};
  if (p.inner >= kLongRow) {
    const int64_t chunks = (p.inner + kRowChunk - 1) / kRowChunk;
    QTORCH_CHECK(rows * chunks < (int64_t{1} << 31), "quantize (cuda): tensor too large");
    launch(long_rows_max_kernel, dim3(static_cast<unsigned>(rows * chunks)), dim3(kQuantizeThreads), x, p, chunks,
           maxima);
  } else if (p.blocks <= kSharedBlocks) {
    const int64_t grid = std::min<int64_t>((n + kQuantizeThreads - 1) / kQuantizeThreads, 4LL * multiprocessors);
    launch.with_shared(static_cast<size_t>(p.blocks) * sizeof(uint32_t))(
        short_rows_max_kernel, dim3(static_cast<unsigned>(grid)), dim3(kQuantizeThreads), x, n, p, index32, maxima);
  } else {
    const int64_t grid = std::clamp<int64_t>((n + kQuantizeThreads - 1) / kQuantizeThreads, 1, int64_t{1} << 20);
    launch(elementwise_max_kernel, dim3(static_cast<unsigned>(grid)), dim3(kQuantizeThreads), x, n, p, index32,
           maxima);
  }
}

}  // namespace qtorch::quant::block_maxima_kernels
