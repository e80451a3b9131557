// ReLU's forward and backward on one float, for every device: the CPU and CUDA elementwise
// ops and the quantize kernels that take a ReLU into their pass use these, so that they agree
// on NaN and on the sign of zero.
#pragma once

#include "qtorch/core/hostdevice.h"

namespace qtorch {

/// max(x, 0) with NaN kept and -0 made +0: x where x > 0 or x is NaN, else +0.
QTORCH_HD float relu_value(float x) { return x > 0.0f || x != x ? x : 0.0f; }

/// ReLU's backward, where(out, g, 0): g where the ReLU's output is nonzero (NaN included, as
/// PyTorch's threshold_backward passes g on), else +0.
QTORCH_HD float relu_grad(float out, float g) { return out != 0.0f ? g : 0.0f; }

}  // namespace qtorch
