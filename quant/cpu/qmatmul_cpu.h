// CPU kernel of qmatmul (quant/mac.h): a [M, K] row-major, bt = B transposed [N, K]
// row-major, out [M, N]. Every output element is one mac_chain of quant/mac_core.h.
#pragma once

#include <cstdint>

#include "qtorch/quant/mac_core.h"

namespace qtorch::quant {

/// OpenMP over output elements; the same bits on any thread count.
void qmatmul_cpu(const float* a, const float* bt, float* out, const MacParams& m, uint64_t seed,
                 uint64_t offset);

}  // namespace qtorch::quant
