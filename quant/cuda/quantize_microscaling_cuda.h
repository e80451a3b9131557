// CUDA kernels of the block-scaled formats (QuantFamily::MX and NVFP4), called by
// quantize_cuda for those families; same contract (quant/quantize_cuda.h) and bits as
// quant/cpu/quantize_microscaling_cpu.cpp.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "qtorch/quant/kernel_params.h"

namespace qtorch::quant {

/// Queues the kernels on `stream` (of `device`). counters (device memory, may be null)
/// receive the clamped count in [0] and the flushed count in [1], added to what they hold.
void quantize_microscaling_cuda(const float* x, float* out, float* mask, int64_t n,
                                const QuantParams& p, uint64_t seed, uint64_t offset,
                                unsigned long long* counters, int device, cudaStream_t stream);

}  // namespace qtorch::quant
