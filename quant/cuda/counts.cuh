// A thread's clamped and flushed counts in a quantize kernel, added to the device counters
// of quant/quantize_cuda.h ([0] clamped, [1] flushed; may be null) once per warp at the
// end: a warp reduction and at most two atomics, so counting costs no host wait.
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

  /// Every lane of the warp must call it (a warp-wide reduction).
  __device__ __forceinline__ void add_to(unsigned long long* counters) const {
    if (counters == nullptr) return;
    const unsigned c = __reduce_add_sync(0xffffffffu, clamped);
    const unsigned f = __reduce_add_sync(0xffffffffu, flushed);
    if (threadIdx.x % 32 == 0) {
      if (c) atomicAdd(&counters[0], static_cast<unsigned long long>(c));
      if (f) atomicAdd(&counters[1], static_cast<unsigned long long>(f));
    }
  }
};

}  // namespace qtorch::quant
