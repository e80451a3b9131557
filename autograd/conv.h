// Differentiable convolution and pooling over [N, C, H, W] tensors.
#pragma once

#include "qtorch/core/ops.h"
#include "qtorch/core/tensor.h"

namespace qtorch {

/// weight [O, C/groups, kh, kw], bias [O] or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dParams& options = {});
Tensor max_pool2d(const Tensor& x, const Pool2dParams& options);
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& options);

}  // namespace qtorch
