// Differentiable convolution and pooling over [N, C, H, W] tensors.
#pragma once

#include "core/ops.h"
#include "core/tensor.h"

namespace qtorch {

/// weight [O, C/groups, kh, kw], bias [O] or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& options = {});
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options);
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options);

}  // namespace qtorch
