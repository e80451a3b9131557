// Differentiable views and copies: reshape, view, transpose, permute, slice, squeeze,
// unsqueeze, expand, contiguous, clone. Views share storage; their backward maps the
// gradient back to the input's layout.
#include <algorithm>
#include <optional>

#include "autograd/node.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"

namespace qtorch {
namespace {

// Strides that let `shape` view the elements of (old_shape, old_strides), if any exist.
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& shape) {
  if (numel_of(old_shape) == 0 || old_shape.empty()) return contiguous_strides(shape);
  Shape strides(shape.size());
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base = old_strides.back(), tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_base;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

Shape infer_shape(const Shape& requested, int64_t numel, const char* op, const Shape& from) {
  Shape shape = requested;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      QTORCH_CHECK(infer < 0, "{}: only one size may be -1, got {}", op, shape_str(requested));
      infer = static_cast<int64_t>(i);
    } else {
      QTORCH_CHECK(shape[i] >= 0, "{}: expected sizes >= 0 or -1, got {}", op, shape_str(requested));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    QTORCH_CHECK(known > 0 && numel % known == 0, "{}: cannot reshape {} into {}", op, shape_str(from),
                 shape_str(requested));
    shape[infer] = numel / known;
  }
  QTORCH_CHECK(numel_of(shape) == numel, "{}: cannot reshape {} ({} elements) into {}", op,
               shape_str(from), numel, shape_str(requested));
  return shape;
}

struct ReshapeNode final : Node {
  Shape input_shape;
  std::string name() const override { return "reshape"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {g.reshape(input_shape)}; }
};

struct PermuteNode final : Node {
  Shape inverse;
  std::string name() const override { return "permute"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {g.permute(inverse)}; }
};

struct SliceNode final : Node {
  Shape input_shape;
  int64_t axis = 0, start = 0, end = 0, step = 1;
  std::string name() const override { return "slice"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor full = zeros(input_shape, g.device());
    ops::copy_into(full.slice(axis, start, end, step), g);
    return {full};
  }
};

struct IdentityNode final : Node {  // expand (the engine sums back), contiguous, clone
  std::string op;
  std::string name() const override { return op; }
  std::vector<Tensor> backward(const Tensor& g) override { return {g}; }
};

Tensor record_reshape(const Tensor& x, Tensor out) {
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<ReshapeNode>();
  node->input_shape = x.shape();
  return attach_node(out, node, {x});
}

Tensor record_identity(const Tensor& x, Tensor out, const char* op) {
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<IdentityNode>();
  node->op = op;
  return attach_node(out, node, {x});
}

}  // namespace

Tensor Tensor::view(const Shape& requested) const {
  Shape shape_ = infer_shape(requested, numel(), "view", shape());
  auto strides_ = view_strides(shape(), strides(), shape_);
  QTORCH_CHECK(strides_.has_value(), "view: the strides of {} do not allow a view as {}; use reshape",
               shape_str(shape()), shape_str(requested));
  return record_reshape(*this, as_strided(*this, shape_, *strides_, offset()));
}

Tensor Tensor::reshape(const Shape& requested) const {
  Shape shape_ = infer_shape(requested, numel(), "reshape", shape());
  if (auto strides_ = view_strides(shape(), strides(), shape_)) {
    return record_reshape(*this, as_strided(*this, shape_, *strides_, offset()));
  }
  return contiguous().view(shape_);
}

Tensor Tensor::flatten(int64_t start_axis, int64_t end_axis) const {
  if (dim() == 0) return reshape({1});
  int64_t s = wrap_axis(start_axis, dim(), "flatten"), e = wrap_axis(end_axis, dim(), "flatten");
  QTORCH_CHECK(s <= e, "flatten: expected start_axis <= end_axis, got {} and {}", start_axis, end_axis);
  Shape shape_(shape().begin(), shape().begin() + s);
  int64_t n = 1;
  for (int64_t i = s; i <= e; ++i) n *= shape()[i];
  shape_.push_back(n);
  shape_.insert(shape_.end(), shape().begin() + e + 1, shape().end());
  return reshape(shape_);
}

Tensor Tensor::permute(const Shape& axes) const {
  QTORCH_CHECK(static_cast<int64_t>(axes.size()) == dim(), "permute: expected {} axes, got {}", dim(),
               shape_str(axes));
  Shape shape_(axes.size()), strides_(axes.size()), inverse(axes.size());
  std::vector<bool> used(axes.size(), false);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = wrap_axis(axes[i], dim(), "permute");
    QTORCH_CHECK(!used[a], "permute: expected each axis once, got {}", shape_str(axes));
    used[a] = true;
    shape_[i] = shape()[a];
    strides_[i] = strides()[a];
    inverse[a] = static_cast<int64_t>(i);
  }
  Tensor out = as_strided(*this, shape_, strides_, offset());
  if (!any_requires_grad({this})) return out;
  auto node = std::make_shared<PermuteNode>();
  node->inverse = inverse;
  return attach_node(out, node, {*this});
}

Tensor Tensor::transpose(int64_t axis0, int64_t axis1) const {
  Shape axes(dim());
  for (int64_t i = 0; i < dim(); ++i) axes[i] = i;
  std::swap(axes[wrap_axis(axis0, dim(), "transpose")], axes[wrap_axis(axis1, dim(), "transpose")]);
  return permute(axes);
}

Tensor Tensor::slice(int64_t axis_in, int64_t start, int64_t end, int64_t step) const {
  int64_t axis = wrap_axis(axis_in, dim(), "slice");
  QTORCH_CHECK(step >= 1, "slice: expected step >= 1, got {}", step);
  int64_t n = shape()[axis];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape shape_ = shape(), strides_ = strides();
  shape_[axis] = (end - start + step - 1) / step;
  strides_[axis] *= step;
  Tensor out = as_strided(*this, shape_, strides_, offset() + start * strides()[axis]);
  if (!any_requires_grad({this})) return out;
  auto node = std::make_shared<SliceNode>();
  node->input_shape = shape();
  node->axis = axis;
  node->start = start;
  node->end = end;
  node->step = step;
  return attach_node(out, node, {*this});
}

Tensor Tensor::narrow(int64_t axis, int64_t start, int64_t length) const {
  int64_t a = wrap_axis(axis, dim(), "narrow");
  QTORCH_CHECK(start >= 0 && length >= 0 && start + length <= shape()[a],
               "narrow: expected [start, start + length) within [0, {}], got start {} length {}",
               shape()[a], start, length);
  return slice(a, start, start + length);
}

Tensor Tensor::squeeze(int64_t axis_in) const {
  int64_t axis = wrap_axis(axis_in, dim(), "squeeze");
  if (shape()[axis] != 1) return *this;
  Shape shape_ = shape(), strides_ = strides();
  shape_.erase(shape_.begin() + axis);
  strides_.erase(strides_.begin() + axis);
  return record_reshape(*this, as_strided(*this, shape_, strides_, offset()));
}

Tensor Tensor::unsqueeze(int64_t axis_in) const {
  int64_t axis = wrap_axis(axis_in, dim() + 1, "unsqueeze");
  Shape shape_ = shape(), strides_ = strides();
  int64_t stride = axis < dim() ? strides()[axis] * shape()[axis] : 1;
  shape_.insert(shape_.begin() + axis, 1);
  strides_.insert(strides_.begin() + axis, stride);
  return record_reshape(*this, as_strided(*this, shape_, strides_, offset()));
}

Tensor Tensor::expand(const Shape& target) const {
  QTORCH_CHECK(target.size() >= shape().size(), "expand: cannot expand {} to fewer axes {}",
               shape_str(shape()), shape_str(target));
  size_t lead = target.size() - shape().size();
  Shape shape_(target.size()), strides_(target.size(), 0);
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t want = target[i];
    if (i < lead) {
      QTORCH_CHECK(want >= 0, "expand: expected sizes >= 0, got {}", shape_str(target));
      shape_[i] = want;
      continue;
    }
    int64_t have = shape()[i - lead];
    if (want == -1) want = have;
    QTORCH_CHECK(want == have || have == 1, "expand: cannot expand {} to {}", shape_str(shape()),
                 shape_str(target));
    shape_[i] = want;
    strides_[i] = want == have ? strides()[i - lead] : 0;
  }
  return record_identity(*this, as_strided(*this, shape_, strides_, offset()), "expand");
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = empty(shape(), device());
  if (numel() > 0) backend_for(device()).copy(*this, out);
  return record_identity(*this, out, "contiguous");
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), device());
  if (numel() > 0) backend_for(device()).copy(*this, out);
  return record_identity(*this, out, "clone");
}

}  // namespace qtorch
