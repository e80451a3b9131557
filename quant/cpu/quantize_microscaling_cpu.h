// CPU kernels of the block-scaled formats (QuantFamily::MX and NVFP4), called by
// quantize_cpu for those families; same contract (quant/quantize_cuda.h) and bits as CUDA.
#pragma once

#include <cstdint>

#include "qtorch/quant/kernel_params.h"

namespace qtorch::quant {

/// given_rnd (tests): element i's random word instead of Philox bits; null for Philox.
void quantize_microscaling_cpu(const float* x, float* out, float* mask, int64_t n,
                               const QuantParams& p, uint64_t seed, uint64_t offset,
                               const uint32_t* given_rnd, QuantStats* stats);

}  // namespace qtorch::quant
