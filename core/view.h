// Views and copies as core primitives: they record nothing for autograd. Views share the
// input's storage (a fresh tensor handle with no autograd state); copies are contiguous.
// The differentiable Tensor methods of the same names (autograd/shape.cpp) are built on
// these, and core code calls these instead, so core links without autograd/.
#pragma once

#include <cstdint>
#include <optional>

#include "qtorch/core/shape.h"
#include "qtorch/core/tensor.h"

namespace qtorch {

/// Strides that let `shape` view the elements of (old_shape, old_strides), if any exist.
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& shape);
/// `requested` with a -1 size filled in so that it holds `numel` elements; throws naming
/// `op` and the source shape `from` when it cannot.
Shape infer_shape(const Shape& requested, int64_t numel, const char* op, const Shape& from);

}  // namespace qtorch

namespace qtorch::ops {

/// Never copies: throws when the strides do not allow a view.
Tensor view(const Tensor& x, const Shape& shape);
/// A view when the strides allow one, else a view of a contiguous copy.
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_axis = 0, int64_t end_axis = -1);
Tensor permute(const Tensor& x, const Shape& axes);
Tensor transpose(const Tensor& x, int64_t axis0, int64_t axis1);
/// Elements start, start+step, ... below end of one axis (negative bounds count from the
/// end; bounds are clamped to the axis).
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step = 1);
Tensor narrow(const Tensor& x, int64_t axis, int64_t start, int64_t length);
/// Drops a size-1 axis; returns x itself when the axis is not of size 1.
Tensor squeeze(const Tensor& x, int64_t axis);
Tensor unsqueeze(const Tensor& x, int64_t axis);
/// Broadcasts size-1 axes (and new leading axes) to `shape` with stride 0; -1 keeps a size.
Tensor expand(const Tensor& x, const Shape& shape);
/// x itself when it is contiguous, else a contiguous copy.
Tensor contiguous(const Tensor& x);
/// Always a contiguous copy.
Tensor clone(const Tensor& x);

/// True when a and b lie over memory they share in different layouts, so that writing one
/// element by element changes what the other still has to read (the same layout, which an
/// elementwise op may write in place, and disjoint ranges of one storage are false).
bool overlaps_in_other_layout(const Tensor& a, const Tensor& b);
/// Throws naming `op` when two of x's elements are one memory location (stride 0 on an axis
/// longer than 1, as expand makes): a write through x would keep only one of the values.
void check_writable_elements(const Tensor& x, const char* op);

}  // namespace qtorch::ops
