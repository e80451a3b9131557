// CPU implementation of the quantize seam (contract in quant/quantize_cuda.h).
#pragma once

#include <cstdint>

#include "quant/kernel_params.h"

namespace qtorch::quant {

/// OpenMP-parallel, vectorised; same arguments and results as quantize_cuda.
void quantize_cpu(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
                  uint64_t seed, uint64_t offset, QuantStats* stats);

}  // namespace qtorch::quant
