// Block floating point's block maxima on the GPU, shared by the quantize kernels
// (quant/cuda/quantize_kernels.cuh): the block index of an element, a CUDA block's largest
// magnitude bits (the maxima pass of the two-pass layouts is block_maxima_kernels.cuh).
#pragma once

#ifdef __CUDACC__
#include <cuda_runtime.h>
#endif  // else tests/support/cuda_emulation.h

#include <cstdint>

#include "qtorch/quant/kernel_params.h"
#include "qtorch/quant/rounding_core.h"

namespace qtorch::quant {

/// Threads per CUDA block of the quantize kernels; block_max assumes it.
inline constexpr int kQuantizeThreads = 256;

/// Block index of flat element e for block floating point; 32-bit division when every
/// index fits (a 64-bit division costs several times as many instructions).
__device__ __forceinline__ int64_t block_of(int64_t e, const QuantParams& p, bool index32) {
  if (p.blocks == 1) return 0;
  if (index32) return static_cast<uint32_t>(e) / static_cast<uint32_t>(p.inner) % static_cast<uint32_t>(p.blocks);
  return (e / p.inner) % p.blocks;
}

/// The magnitude bits of v (NaN and inf above every finite value).
__device__ __forceinline__ uint32_t abs_bits(float v) { return float_bits(v) & kAbsMask; }

/// The larger of two magnitude bit patterns.
__device__ __forceinline__ uint32_t max_bits(uint32_t a, uint32_t b) { return a > b ? a : b; }

/// The largest m over the CUDA block; every thread must call it, once per kernel.
__device__ __forceinline__ uint32_t block_max(uint32_t m) {
  __shared__ uint32_t warp_max[kQuantizeThreads / 32];
  m = __reduce_max_sync(0xffffffffu, m);
  if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = m;
  __syncthreads();
  m = warp_max[0];
#pragma unroll
  for (int w = 1; w < kQuantizeThreads / 32; ++w) m = max_bits(m, warp_max[w]);
  return m;
}

}  // namespace qtorch::quant
