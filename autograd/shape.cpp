// Differentiable views and copies: reshape, view, transpose, permute, slice, squeeze,
// unsqueeze, expand, contiguous, clone. Each computes with its core primitive
// (core/view.h) and records a backward that maps the gradient back to the input's layout.
#include "qtorch/autograd/node.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/view.h"

namespace qtorch {
namespace {

// The gradient of a view that keeps the elements in order: the gradient reshaped back.
Tensor record_reshape(const Tensor& x, Tensor out) {
  return record("reshape", std::move(out), {x}, [&] {
    return [shape = x.shape()](const Tensor& g, const Node&) -> Grads { return {ops::reshape(g, shape)}; };
  });
}

// The gradient of a slice: zeros with the gradient in the sliced elements. The same
// arguments pick the same elements of any tensor of the input's shape.
Tensor record_slice(const Tensor& x, Tensor out, int64_t axis, int64_t start, int64_t end, int64_t step) {
  return record("slice", std::move(out), {x}, [&] {
    return [shape = x.shape(), axis, start, end, step](const Tensor& g, const Node&) -> Grads {
      Tensor full = zeros(shape, g.device());
      ops::copy_into(ops::slice(full, axis, start, end, step), g);
      return {full};
    };
  });
}

// expand (the engine sums the gradient back), contiguous, clone.
Tensor record_identity(const Tensor& x, Tensor out, const char* op) {
  return record(op, std::move(out), {x}, [](const Tensor& g, const Node&) -> Grads { return {g}; });
}

}  // namespace

Tensor Tensor::view(const Shape& shape) const { return record_reshape(*this, ops::view(*this, shape)); }
Tensor Tensor::reshape(const Shape& shape) const { return record_reshape(*this, ops::reshape(*this, shape)); }
Tensor Tensor::flatten(int64_t start_axis, int64_t end_axis) const {
  return record_reshape(*this, ops::flatten(*this, start_axis, end_axis));
}
Tensor Tensor::unsqueeze(int64_t axis) const { return record_reshape(*this, ops::unsqueeze(*this, axis)); }
Tensor Tensor::squeeze(int64_t axis) const { return record_reshape(*this, ops::squeeze(*this, axis)); }

Tensor Tensor::permute(const Shape& axes) const {
  return record("permute", ops::permute(*this, axes), {*this}, [&] {
    Shape inverse(axes.size());
    for (size_t i = 0; i < axes.size(); ++i) inverse[wrap_axis(axes[i], dim(), "permute")] = static_cast<int64_t>(i);
    return [inverse](const Tensor& g, const Node&) -> Grads { return {ops::permute(g, inverse)}; };
  });
}

Tensor Tensor::transpose(int64_t axis0, int64_t axis1) const {
  return record("permute", ops::transpose(*this, axis0, axis1), {*this},
                [axis0, axis1](const Tensor& g, const Node&) -> Grads { return {ops::transpose(g, axis0, axis1)}; });
}

Tensor Tensor::t() const {
  QTORCH_CHECK(dim() <= 2, "t: expected a tensor of at most 2 axes, got shape {} (transpose(a, b) swaps any two)",
               shape_str(shape()));
  return dim() == 2 ? transpose(0, 1) : reshape(shape());
}

Tensor Tensor::slice(int64_t axis, int64_t start, int64_t end, int64_t step) const {
  return record_slice(*this, ops::slice(*this, axis, start, end, step), axis, start, end, step);
}

Tensor Tensor::narrow(int64_t axis, int64_t start, int64_t length) const {
  Tensor out = ops::narrow(*this, axis, start, length);  // checked first: start + length fits then
  return record_slice(*this, std::move(out), axis, start, start + length, 1);
}

Tensor Tensor::expand(const Shape& shape) const {
  return record_identity(*this, ops::expand(*this, shape), "expand");
}

Tensor Tensor::contiguous() const {
  Tensor out = ops::contiguous(*this);
  return out.is_same(*this) ? out : record_identity(*this, out, "contiguous");
}

Tensor Tensor::clone() const { return record_identity(*this, ops::clone(*this), "clone"); }

}  // namespace qtorch
