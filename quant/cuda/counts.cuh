// A thread's clamped and flushed counts in a quantize kernel, added to the device counters
// of quant/quantize_cuda.h ([0] clamped, [1] flushed; may be null) once per CUDA block at the
// end: a block-wide sum and at most two atomics per CUDA block, so counting costs no host
// wait.
#pragma once

#ifdef __CUDACC__
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#endif  // else tests/support/cuda_emulation.h
#include "qtorch/quant/rounding_core.h"

namespace qtorch::quant {

struct Counts {
  unsigned clamped = 0, flushed = 0;

  /// Counts one element: the rounding core's clamp flag, and whether a finite nonzero x
  /// came out zero.
  __device__ __forceinline__ void count(uint32_t clamped_flag, float x, float y) {
    clamped += clamped_flag != 0 ? 1u : 0u;
    flushed += flushed_to_zero(x, y) ? 1u : 0u;
  }

  /// The warp's sum of v in lane 0, in 64 bits: a thread's count holds up to 2^32 - 1 (an MX
  /// or NVFP4 block down a column is one thread's), so 32 of them may not fit 32 bits (as
  /// __reduce_add_sync would add them).
  static __device__ __forceinline__ unsigned long long warp_sum(unsigned v) {
    unsigned long long sum = v;
    for (unsigned offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
    return sum;
  }

  /// Every thread of the CUDA block must call it, once per kernel, at the end (a block-wide
  /// sum through shared memory, then at most two atomics per CUDA block: a warp's atomics
  /// on the same two addresses cost about a clock each, which per warp of a 2^26-element
  /// call was a third of the time of the pass).
  __device__ __forceinline__ void add_to(unsigned long long* counters) const {
    if (counters == nullptr) return;  // a kernel argument: the same for every thread
    constexpr int kMaxWarps = 32;     // 1024 threads
    __shared__ unsigned long long warp_sums[2][kMaxWarps];
    const unsigned long long c = warp_sum(clamped), f = warp_sum(flushed);
    if (threadIdx.x % 32 == 0) {
      warp_sums[0][threadIdx.x / 32] = c;
      warp_sums[1][threadIdx.x / 32] = f;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      unsigned long long total_c = 0, total_f = 0;
      for (unsigned w = 0; w < blockDim.x / 32; ++w) {
        total_c += warp_sums[0][w];
        total_f += warp_sums[1][w];
      }
      if (total_c) atomicAdd(&counters[0], total_c);
      if (total_f) atomicAdd(&counters[1], total_f);
    }
  }
};

}  // namespace qtorch::quant
