// Float arithmetic with every operation rounded on its own, the same on the host and on a
// CUDA device: what the fused optimizer updates (optim/sgd_kernel.h, optim/adam_kernel.h)
// need to give the bits of the tensor ops they replace. On a device the _rn intrinsics are
// never contracted into an FMA; on the host the files that use these are compiled with
// -ffp-contract=off. Kernel internals: not installed.
#pragma once

#include <cmath>

#include "qtorch/core/hostdevice.h"

namespace qtorch::optim {

#if defined(__CUDA_ARCH__)
QTORCH_HD float rounded_mul(float a, float b) { return __fmul_rn(a, b); }
QTORCH_HD float rounded_add(float a, float b) { return __fadd_rn(a, b); }
QTORCH_HD float rounded_div(float a, float b) { return __fdiv_rn(a, b); }
QTORCH_HD float rounded_sqrt(float a) { return __fsqrt_rn(a); }
#else
QTORCH_HD float rounded_mul(float a, float b) { return a * b; }
QTORCH_HD float rounded_add(float a, float b) { return a + b; }
QTORCH_HD float rounded_div(float a, float b) { return a / b; }
QTORCH_HD float rounded_sqrt(float a) { return std::sqrt(a); }
#endif

}  // namespace qtorch::optim
