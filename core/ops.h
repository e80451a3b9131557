// Primitive, non-differentiable tensor ops. Each checks its arguments, allocates its
// output and dispatches to the device backend once. The differentiable ops in autograd/
// are built on these; user code normally calls those (namespace qtorch) instead.
#pragma once

#include <cstdint>

#include "qtorch/core/backend.h"
#include "qtorch/core/tensor.h"

namespace qtorch {

/// How a convolution is computed: Auto lets the backend choose by shape (a measured rule);
/// Im2col is im2col + GEMM (every shape); Direct the backend's direct kernels (stride 1, one
/// group on the CPU; an error where the backend has none for the shape).
enum class ConvAlgorithm { Auto, Im2col, Direct };
/// Convolution parameters per axis, as qtorch::conv2d takes them (nn::Conv2dOptions is the layer's).
struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
  ConvAlgorithm algorithm = ConvAlgorithm::Auto;
};
/// Pooling window per axis (nn::Pool2dOptions is the layer's); stride 0 means "same as the kernel".
struct Pool2dParams {
  int64_t kernel_h = 2, kernel_w = 2, stride_h = 0, stride_w = 0, pad_h = 0, pad_w = 0;
};

}  // namespace qtorch

namespace qtorch::ops {

class RowIndex;  // core/row_index.h

// ---- elementwise (NumPy broadcasting for binary ops) ----
Tensor unary(UnaryOp op, const Tensor& x, float a = 0.0f, float b = 0.0f);
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, const char* name);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
/// Materialises x broadcast to `shape` (a contiguous copy).
Tensor broadcast_to(const Tensor& x, const Shape& shape);
/// Sums x down to `shape` (the inverse of broadcasting), as autograd needs.
Tensor sum_to_shape(const Tensor& x, const Shape& shape);
/// Copies src (broadcast to dst's shape) into dst's elements, across devices if needed.
void copy_into(const Tensor& dst, const Tensor& src);

// ---- reductions ----
/// op over the given axes (all axes when empty); keepdim keeps them as size 1.
Tensor reduce(ReduceOp op, const Tensor& x, const Shape& axes, bool keepdim, const char* name);
Tensor sum(const Tensor& x, const Shape& axes = {}, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t axis, bool keepdim = false);

// ---- linear algebra ----
/// [M, K] x [K, N], or batched [..., M, K] x [..., K, N] with broadcast batch axes.
/// Transposed views are passed to BLAS as transpose flags, never copied.
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- softmax family (over one axis) ----
Tensor softmax(const Tensor& x, int64_t axis, bool log);
/// x [rows, cols], index [rows] holding class numbers as floats -> [rows].
Tensor gather_rows(const Tensor& x, const Tensor& index);
/// A [rows, cols] tensor of zeros with values[r] at (r, index[r]).
Tensor scatter_rows(const Tensor& values, const Tensor& index, int64_t cols);
/// Rows of x [n, ...] in the order given: out[i] = x[rows[i]], on x's device (the data
/// loader's gather of a shuffled batch). Throws naming the first row out of [0, n).
Tensor take_rows(const Tensor& x, const std::vector<int64_t>& rows);
/// The same into `out` (contiguous [rows.size(), ...] on x's device).
void take_rows_into(const Tensor& x, const std::vector<int64_t>& rows, const Tensor& out);
/// The same through rows checked beforehand (core/row_index.h), whose bound must be x's row
/// count and whose device x's: no check or copy of the rows per call.
void take_rows_into(const Tensor& x, const RowIndex& rows, const Tensor& out);

// ---- windows ----
/// Checks shapes and fills the geometry of a convolution of x [N, C, H, W] by weight
/// [O, C/groups, kh, kw].
Window2d conv2d_geometry(const Tensor& x, const Tensor& weight, const Conv2dParams& o);
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& o);
Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& x_shape,
                             const Conv2dParams& o);
Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Shape& w_shape,
                              const Conv2dParams& o);

Window2d pool2d_geometry(const Tensor& x, const Pool2dParams& o, const char* name);
/// Returns {out, indices}.
std::pair<Tensor, Tensor> max_pool2d(const Tensor& x, const Pool2dParams& o);
/// grad_out and indices [N, C, out_h, out_w] (indices from max_pool2d): each output's gradient
/// goes to the position its index names when its window holds it, and nowhere otherwise.
Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Shape& x_shape,
                           const Pool2dParams& o);
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& o);
Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& x_shape, const Pool2dParams& o);

/// Checks that all defined tensors share one device; names `op` otherwise.
void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors);
/// Throws naming `op` when x is undefined or has no elements.
void check_nonempty(const char* op, const Tensor& x);

}  // namespace qtorch::ops
