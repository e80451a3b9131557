// CPU kernel of qmatmul (quant/mac.h): a [M, K], b [K, N] and out [M, N], row-major.
// Every output element is one mac_chain of quant/mac_core.h.
#pragma once

#include <cstdint>

#include "qtorch/quant/mac_core.h"

namespace qtorch::quant {

/// OpenMP over output elements; the same bits on any thread count.
/// allow_fast = false: the scalar chain everywhere (the reference the vector kernel is
/// tested against).
void qmatmul_cpu(const float* a, const float* b, float* out, const MacParams& m, uint64_t seed,
                 uint64_t offset, bool allow_fast = true);

}  // namespace qtorch::quant
