// Differentiable reductions over all axes or the given ones.
#pragma once

#include "qtorch/core/tensor.h"

namespace qtorch {

/// Sum over axes (all of them when empty); over an axis of no elements, 0.
Tensor sum(const Tensor& x, const Shape& axes = {}, bool keepdim = false);
/// Mean over axes; an axis of no elements is refused (PyTorch gives NaN), as max and argmax
/// refuse it in both. Axes beside it may be empty: an empty result.
Tensor mean(const Tensor& x, const Shape& axes = {}, bool keepdim = false);
/// Maximum; the gradient goes to the maximal elements (split evenly among ties).
Tensor max(const Tensor& x, const Shape& axes = {}, bool keepdim = false);
/// Index of the maximum along axis (the first of ties, or the first NaN), as float (not
/// differentiated): an axis of at most 2^24 + 1 elements, whose indices float32 holds exactly.
Tensor argmax(const Tensor& x, int64_t axis = -1, bool keepdim = false);

}  // namespace qtorch
