// View and copy primitives: shape and stride arithmetic over shared storage.
#include "qtorch/core/view.h"

#include <algorithm>

#include "qtorch/core/backend.h"
#include "qtorch/core/error.h"

namespace qtorch {

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

}  // namespace qtorch

namespace qtorch::ops {

Tensor view(const Tensor& x, const Shape& requested) {
  Shape shape = infer_shape(requested, x.numel(), "view", x.shape());
  auto strides = view_strides(x.shape(), x.strides(), shape);
  QTORCH_CHECK(strides.has_value(), "view: the strides of {} do not allow a view as {}; use reshape",
               shape_str(x.shape()), shape_str(requested));
  return as_strided(x, shape, *strides, x.offset());
}

Tensor reshape(const Tensor& x, const Shape& requested) {
  Shape shape = infer_shape(requested, x.numel(), "reshape", x.shape());
  if (auto strides = view_strides(x.shape(), x.strides(), shape)) {
    return as_strided(x, shape, *strides, x.offset());
  }
  return view(contiguous(x), shape);
}

Tensor flatten(const Tensor& x, int64_t start_axis, int64_t end_axis) {
  if (x.dim() == 0) return reshape(x, {1});
  int64_t s = wrap_axis(start_axis, x.dim(), "flatten"), e = wrap_axis(end_axis, x.dim(), "flatten");
  QTORCH_CHECK(s <= e, "flatten: expected start_axis <= end_axis, got {} and {}", start_axis, end_axis);
  const Shape& in = x.shape();
  Shape shape(in.begin(), in.begin() + s);
  int64_t n = 1;
  for (int64_t i = s; i <= e; ++i) n *= in[i];
  shape.push_back(n);
  shape.insert(shape.end(), in.begin() + e + 1, in.end());
  return reshape(x, shape);
}

Tensor permute(const Tensor& x, const Shape& axes) {
  QTORCH_CHECK(static_cast<int64_t>(axes.size()) == x.dim(), "permute: expected {} axes, got {}", x.dim(),
               shape_str(axes));
  Shape shape(axes.size()), strides(axes.size());
  std::vector<bool> used(axes.size(), false);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = wrap_axis(axes[i], x.dim(), "permute");
    QTORCH_CHECK(!used[a], "permute: expected each axis once, got {}", shape_str(axes));
    used[a] = true;
    shape[i] = x.shape()[a];
    strides[i] = x.strides()[a];
  }
  return as_strided(x, shape, strides, x.offset());
}

Tensor transpose(const Tensor& x, int64_t axis0, int64_t axis1) {
  QTORCH_CHECK(x.dim() >= 1, "transpose: expected a tensor with at least 1 dimension, got shape {}",
               shape_str(x.shape()));
  Shape axes(x.dim());
  for (int64_t i = 0; i < x.dim(); ++i) axes[i] = i;
  std::swap(axes[wrap_axis(axis0, x.dim(), "transpose")], axes[wrap_axis(axis1, x.dim(), "transpose")]);
  return permute(x, axes);
}

Tensor slice(const Tensor& x, int64_t axis_in, int64_t start, int64_t end, int64_t step) {
  int64_t axis = wrap_existing_axis(axis_in, x.dim(), "slice");
  QTORCH_CHECK(step >= 1, "slice: expected step >= 1, got {}", step);
  int64_t n = x.shape()[axis];
  if (start < 0) start = start < -n ? 0 : start + n;
  if (end < 0) end = end < -n ? 0 : end + n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape shape = x.shape(), strides = x.strides();
  shape[axis] = end == start ? 0 : (end - start - 1) / step + 1;  // no overflow for any step
  // With one element or none the stride is never used; otherwise it addresses memory, so fits.
  if (shape[axis] > 1) strides[axis] *= step;
  return as_strided(x, shape, strides, x.offset() + start * x.strides()[axis]);
}

Tensor narrow(const Tensor& x, int64_t axis, int64_t start, int64_t length) {
  int64_t a = wrap_existing_axis(axis, x.dim(), "narrow");
  QTORCH_CHECK(start >= 0 && length >= 0 && start <= x.shape()[a] && length <= x.shape()[a] - start,
               "narrow: expected [start, start + length) within [0, {}], got start {} length {}",
               x.shape()[a], start, length);
  return slice(x, a, start, start + length);
}

Tensor squeeze(const Tensor& x, int64_t axis_in) {
  int64_t axis = wrap_axis(axis_in, x.dim(), "squeeze");
  if (x.dim() == 0) return as_strided(x, x.shape(), x.strides(), x.offset());  // as PyTorch
  // Nothing to squeeze: a new view all the same (as PyTorch), not x itself, so that what the
  // caller does to the result's handle (autograd's record, requires_grad_) leaves x alone.
  if (x.shape()[axis] != 1) return as_strided(x, x.shape(), x.strides(), x.offset());
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + axis);
  strides.erase(strides.begin() + axis);
  return as_strided(x, shape, strides, x.offset());
}

Tensor unsqueeze(const Tensor& x, int64_t axis_in) {
  int64_t axis = wrap_axis(axis_in, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape(), strides = x.strides();
  int64_t stride = axis < x.dim() ? x.strides()[axis] * x.shape()[axis] : 1;
  shape.insert(shape.begin() + axis, 1);
  strides.insert(strides.begin() + axis, stride);
  return as_strided(x, shape, strides, x.offset());
}

Tensor expand(const Tensor& x, const Shape& target) {
  const Shape& have_shape = x.shape();
  QTORCH_CHECK(target.size() >= have_shape.size(), "expand: cannot expand {} to fewer axes {}",
               shape_str(have_shape), shape_str(target));
  size_t lead = target.size() - have_shape.size();
  Shape shape(target.size()), strides(target.size(), 0);
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t want = target[i];
    if (i < lead) {
      QTORCH_CHECK(want >= 0, "expand: expected sizes >= 0, got {}", shape_str(target));
      shape[i] = want;
      continue;
    }
    int64_t have = have_shape[i - lead];
    if (want == -1) want = have;
    QTORCH_CHECK(want >= 0, "expand: expected sizes >= 0 (or -1 to keep an axis), got {}", shape_str(target));
    QTORCH_CHECK(want == have || have == 1, "expand: cannot expand {} to {}", shape_str(have_shape),
                 shape_str(target));
    shape[i] = want;
    strides[i] = want == have ? x.strides()[i - lead] : 0;
  }
  return as_strided(x, shape, strides, x.offset());
}

Tensor contiguous(const Tensor& x) { return x.is_contiguous() ? x : clone(x); }

namespace {
// The first and last element offsets x can address (numel > 0).
std::pair<int64_t, int64_t> element_range(const Tensor& x) {
  int64_t lo = x.offset(), hi = x.offset();
  for (int64_t i = 0; i < x.dim(); ++i) {
    const int64_t reach = x.strides()[i] * (x.shape()[i] - 1);
    (reach < 0 ? lo : hi) += reach;
  }
  return {lo, hi};
}
}  // namespace

bool overlaps_in_other_layout(const Tensor& a, const Tensor& b) {
  if (a.storage() != b.storage() || a.numel() == 0 || b.numel() == 0) return false;
  if (a.offset() == b.offset() && a.shape() == b.shape() && a.strides() == b.strides()) return false;
  const auto [a_lo, a_hi] = element_range(a);
  const auto [b_lo, b_hi] = element_range(b);
  return a_lo <= b_hi && b_lo <= a_hi;
}

void check_writable_elements(const Tensor& x, const char* op) {
  for (int64_t i = 0; i < x.dim(); ++i) {
    QTORCH_CHECK(x.strides()[i] != 0 || x.shape()[i] <= 1,
                 "{}: more than one element of the written tensor (shape {}, strides {}) is one memory "
                 "location, as after expand; write into a contiguous tensor (clone() or contiguous())",
                 op, shape_str(x.shape()), shape_str(x.strides()));
  }
}

Tensor clone(const Tensor& x) {
  Tensor out = empty(x.shape(), x.device());
  if (x.numel() > 0) backend_for(x.device()).copy(x, out);
  return out;
}

}  // namespace qtorch::ops
