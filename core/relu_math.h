// ReLU's forward and backward on one float, for every device: the CPU and CUDA elementwise
// ops and the quantize kernels that take a ReLU into their pass use these, so that they agree
// on NaN and on the sign of zero.
#pragma once

#include <cstdint>
#include <cstring>

#include "qtorch/core/hostdevice.h"

namespace qtorch {

/// max(x, 0) with NaN kept (its payload too) and -0 made +0: x where x > 0 or x is NaN, else
/// +0. Decided on x's bits: written as float comparisons (PTX: a compare and a select), the
/// H100 build of CUDA 13.0 returned the canonical NaN 0x7fffffff for every NaN, as a
/// NaN-propagating max would; integer compares leave it nothing to fold.
QTORCH_HD float relu_value(float x) {
  uint32_t b;
  memcpy(&b, &x, sizeof b);
  // 0 < b <= 0x7fffffff: +0 < x, or a NaN with the sign clear; b > 0xff800000: a NaN with it set.
  const bool keep = b - 1u < 0x7fffffffu || b > 0xff800000u;
  return keep ? x : 0.0f;
}

/// ReLU's backward, where(out, g, 0): g where the ReLU's output is nonzero (NaN included, as
/// PyTorch's threshold_backward passes g on), else +0.
QTORCH_HD float relu_grad(float out, float g) { return out != 0.0f ? g : 0.0f; }

}  // namespace qtorch
