// CPU implementation of the quantize seam (contract in quant/quantize_cuda.h).
#pragma once

#include <cstdint>

#include "qtorch/quant/kernel_params.h"

namespace qtorch::quant {

/// OpenMP-parallel (large tensors), vectorised; same arguments and results as quantize_cuda.
/// fresh_output: out was just allocated and never touched, so large outputs are written
/// with ordinary stores rather than streamed past the caches (a speed hint only).
void quantize_cpu(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
                  uint64_t seed, uint64_t offset, QuantStats* stats, bool fresh_output = false);

/// The same results from the scalar loop over the rounding core alone (no AVX-512
/// kernels): the reference the fast kernels are tested against.
void quantize_cpu_reference(const float* x, float* out, float* mask, int64_t n,
                            const QuantParams& p, uint64_t seed, uint64_t offset,
                            QuantStats* stats);

/// For tests: like quantize_cpu (fast = true) or quantize_cpu_reference (fast = false),
/// with element i's random word rnd[i] instead of Philox bits.
void quantize_cpu_with_bits(const float* x, float* out, float* mask, int64_t n,
                            const QuantParams& p, const uint32_t* rnd, QuantStats* stats,
                            bool fast);

/// Whether this build has the AVX-512 kernels (built with -march supporting AVX-512).
bool quantize_cpu_has_fast_kernels();

}  // namespace qtorch::quant
