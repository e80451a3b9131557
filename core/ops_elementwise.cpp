// Primitive elementwise ops: broadcasting, output allocation and dispatch.
#include <fmt/format.h>

#include "qtorch/core/backend.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/view.h"

namespace qtorch::ops {

void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (first == nullptr) {
      first = t;
    } else {
      QTORCH_CHECK(t->device() == first->device(), "{}: expected all tensors on {}, got one on {}",
                   op, first->device().str(), t->device().str());
    }
  }
}

void check_nonempty(const char* op, const Tensor& x) {
  QTORCH_CHECK(x.defined(), "{}: expected a defined tensor, got an undefined one", op);
  QTORCH_CHECK(x.numel() > 0, "{}: expected a non-empty tensor, got shape {}", op, shape_str(x.shape()));
}

namespace {
// A view of x with out_shape, using stride 0 on broadcast axes (no copy).
Tensor expand_view(const Tensor& x, const Shape& out_shape) {
  if (x.shape() == out_shape) return x;
  size_t n = out_shape.size(), lead = n - x.shape().size();
  Shape strides(n, 0);
  for (size_t i = lead; i < n; ++i) {
    strides[i] = x.shape()[i - lead] == 1 && out_shape[i] != 1 ? 0 : x.strides()[i - lead];
  }
  return as_strided(x, out_shape, strides, x.offset());
}
}  // namespace

Tensor unary(UnaryOp op, const Tensor& x, float a, float b) {
  QTORCH_CHECK(x.defined(), "unary op: expected a defined tensor");
  Tensor out = empty(x.shape(), x.device());
  if (out.numel() > 0) backend_for(x.device()).unary(op, x, out, a, b);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  QTORCH_CHECK(a.defined() && b.defined(), "{}: expected defined tensors", name);
  check_same_device(name, {&a, &b});
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty(shape, a.device());
  if (out.numel() > 0) {
    backend_for(a.device()).binary(op, expand_view(a, shape), expand_view(b, shape), out);
  }
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_device("where", {&cond, &a, &b});
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty(shape, a.device());
  if (out.numel() > 0) {
    backend_for(a.device()).where(expand_view(cond, shape), expand_view(a, shape),
                                  expand_view(b, shape), out);
  }
  return out;
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  Shape joined = broadcast_shapes(x.shape(), shape, "broadcast_to");
  QTORCH_CHECK(joined == shape, "broadcast_to: cannot broadcast {} to {}", shape_str(x.shape()),
               shape_str(shape));
  Tensor out = empty(shape, x.device());
  if (out.numel() > 0) backend_for(x.device()).copy(expand_view(x, shape), out);
  return out;
}

void copy_into(const Tensor& dst, const Tensor& src) {
  QTORCH_CHECK(dst.defined() && src.defined(), "copy_: expected defined tensors");
  Shape joined = broadcast_shapes(dst.shape(), src.shape(), "copy_");
  QTORCH_CHECK(joined == dst.shape(), "copy_: cannot copy a tensor of shape {} into shape {}",
               shape_str(src.shape()), shape_str(dst.shape()));
  if (dst.numel() == 0) return;
  check_writable_elements(dst, "copy_");
  dst.bump_version();
  if (src.shape() == dst.shape() && src.strides() == dst.strides() && src.device() == dst.device() &&
      src.data_ptr() == dst.data_ptr()) {
    return;  // copying a tensor onto itself
  }
  // From another layout over the same memory (x.copy_(x.t()), shifted slices): through a
  // copy, as PyTorch, so no element is overwritten before it is read.
  Tensor from = src.device() != dst.device() ? src.to(dst.device())
                : overlaps_in_other_layout(src, dst) ? clone(src)
                                                     : src;
  backend_for(dst.device()).copy(expand_view(from, dst.shape()), dst);
}

Tensor sum_to_shape(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  bool broadcasts = shape.size() <= x.shape().size();
  for (size_t i = 1; broadcasts && i <= shape.size(); ++i) {
    const int64_t want = shape[shape.size() - i], have = x.shape()[x.shape().size() - i];
    broadcasts = want == have || want == 1;
  }
  QTORCH_CHECK(broadcasts, "sum_to_shape: expected a tensor whose shape {} broadcasts from {}",
               shape_str(x.shape()), shape_str(shape));
  size_t lead = x.shape().size() - shape.size();
  Shape axes;
  for (size_t i = 0; i < x.shape().size(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && x.shape()[i] != 1)) axes.push_back(static_cast<int64_t>(i));
  }
  Tensor s = axes.empty() ? x : sum(x, axes, true);
  // Drop the leading axes, keep the size-1 ones.
  return as_strided(contiguous(s), shape, contiguous_strides(shape),
                    s.is_contiguous() ? s.offset() : 0);
}

}  // namespace qtorch::ops
