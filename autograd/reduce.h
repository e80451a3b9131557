// Differentiable reductions over all axes or the given ones.
#pragma once

#include "qtorch/core/tensor.h"

namespace qtorch {

Tensor sum(const Tensor& x, const Shape& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const Shape& axes = {}, bool keepdim = false);
/// Maximum; the gradient goes to the maximal elements (split evenly among ties).
Tensor max(const Tensor& x, const Shape& axes = {}, bool keepdim = false);
/// Index of the maximum along axis, as float (not differentiated).
Tensor argmax(const Tensor& x, int64_t axis = -1, bool keepdim = false);

}  // namespace qtorch
