// Primitive reductions over any set of axes, one axis at a time through the backend.
#include <algorithm>

#include "qtorch/core/backend.h"
#include "qtorch/core/error.h"
#include "qtorch/core/float_index.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/view.h"

namespace qtorch::ops {
namespace {
// Reduces one axis of a contiguous tensor, keeping it as size 1.
Tensor reduce_axis(ReduceOp op, const Tensor& x, int64_t axis) {
  int64_t outer = 1, inner = 1, n = x.shape()[axis];
  for (int64_t i = 0; i < axis; ++i) outer *= x.shape()[i];
  for (int64_t i = axis + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  Shape out_shape = x.shape();
  out_shape[axis] = 1;
  Tensor out = empty(out_shape, x.device());
  if (out.numel() > 0) backend_for(x.device()).reduce(op, x, outer, n, inner, out);
  return out;
}
}  // namespace

Tensor reduce(ReduceOp op, const Tensor& x, const Shape& axes_in, bool keepdim, const char* name) {
  QTORCH_CHECK(x.defined(), "{}: expected a defined tensor", name);
  Shape axes;
  if (axes_in.empty()) {
    for (int64_t i = 0; i < x.dim(); ++i) axes.push_back(i);
  } else {
    for (int64_t a : axes_in) axes.push_back(wrap_axis(a, x.dim(), name));
  }
  std::sort(axes.begin(), axes.end());
  QTORCH_CHECK(std::adjacent_find(axes.begin(), axes.end()) == axes.end(),
               "{}: expected distinct axes, got {}", name, shape_str(axes_in));
  // Max, min and argmax have no value over no elements (PyTorch refuses too); an empty
  // tensor whose reduced axes hold elements gives an empty result, as in PyTorch.
  for (int64_t a : axes)  // (a 0-d tensor, one element, names axis 0 or -1 as itself)
    QTORCH_CHECK(op == ReduceOp::Sum || x.dim() == 0 || x.shape()[a] > 0,
                 "{}: expected elements along every reduced axis, got shape {} (axis {} is empty)", name,
                 shape_str(x.shape()), a);
  QTORCH_CHECK(op != ReduceOp::ArgMax || axes.size() == 1 || x.dim() <= 1,
               "{}: expected one axis", name);
  if (op == ReduceOp::ArgMax && x.dim() > 0)  // the index is a float32: exact up to 2^24
    QTORCH_CHECK((axes.size() > 1 ? x.numel() : x.shape()[axes[0]]) <= kMaxFloatIndex + 1,
                 "{}: expected at most 2^24 + 1 elements along the axis (the index is a float32, exact up to "
                 "2^24), got shape {} (axis {})",
                 name, shape_str(x.shape()), axes[0]);
  Tensor r = contiguous(x);
  if (x.dim() == 0) {
    r = as_strided(r, {1}, {1}, r.offset());
    axes = {0};
  }
  if (op == ReduceOp::ArgMax && axes.size() > 1) {  // argmax over a 1-D tensor given all axes
    r = as_strided(r, {r.numel()}, {1}, r.offset());
    axes = {0};
  }
  for (int64_t a : axes) r = reduce_axis(op, r, a);
  Shape out_shape;
  for (int64_t i = 0; i < x.dim(); ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (!reduced) out_shape.push_back(x.shape()[i]);
    else if (keepdim) out_shape.push_back(1);
  }
  return as_strided(r, out_shape, contiguous_strides(out_shape), r.offset());
}

Tensor sum(const Tensor& x, const Shape& axes, bool keepdim) {
  return reduce(ReduceOp::Sum, x, axes, keepdim, "sum");
}

Tensor argmax(const Tensor& x, int64_t axis, bool keepdim) {
  return reduce(ReduceOp::ArgMax, x, {axis}, keepdim, "argmax");
}

}  // namespace qtorch::ops
