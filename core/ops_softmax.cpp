// Primitive softmax over one axis, and the row gather/scatter used by the losses.
#include "qtorch/core/backend.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/view.h"

namespace qtorch::ops {

Tensor softmax(const Tensor& x, int64_t axis_in, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  QTORCH_CHECK(x.defined() && x.dim() >= 1, "{}: expected a tensor with at least 1 axis", name);
  int64_t axis = wrap_axis(axis_in, x.dim(), name);
  int64_t last = x.dim() - 1;
  Tensor moved = axis == last ? x : transpose(x, axis, last);
  Tensor in = contiguous(moved);
  Tensor out = empty(in.shape(), x.device());
  int64_t cols = in.shape()[last];
  if (out.numel() > 0) backend_for(x.device()).softmax(in, out, out.numel() / cols, cols, log);
  return axis == last ? out : contiguous(transpose(out, axis, last));
}

namespace {
void check_rows(const char* op, const Tensor& index, int64_t rows) {
  QTORCH_CHECK(index.dim() == 1 && index.size(0) == rows,
               "{}: expected an index of shape [{}], got {}", op, rows, shape_str(index.shape()));
}
}  // namespace

Tensor gather_rows(const Tensor& x, const Tensor& index) {
  QTORCH_CHECK(x.dim() == 2, "gather_rows: expected [rows, cols], got {}", shape_str(x.shape()));
  check_rows("gather_rows", index, x.size(0));
  check_same_device("gather_rows", {&x, &index});
  Tensor in = contiguous(x);
  Tensor idx = contiguous(index);
  Tensor out = empty({x.size(0)}, x.device());
  if (out.numel() > 0) backend_for(x.device()).gather_rows(in, idx, out);
  return out;
}

Tensor scatter_rows(const Tensor& values, const Tensor& index, int64_t cols) {
  QTORCH_CHECK(values.dim() == 1, "scatter_rows: expected values [rows], got {}", shape_str(values.shape()));
  check_rows("scatter_rows", index, values.size(0));
  check_same_device("scatter_rows", {&values, &index});
  Tensor out = zeros({values.size(0), cols}, values.device());
  Tensor v = contiguous(values);
  Tensor idx = contiguous(index);
  if (out.numel() > 0) backend_for(values.device()).scatter_add_rows(v, idx, out);
  return out;
}

}  // namespace qtorch::ops
