// Primitive matmul: shapes checked here, transposed views passed to BLAS as flags.
#include "qtorch/core/backend.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/view.h"

namespace qtorch::ops {
namespace {
// How a [rows, cols] matrix view (last two axes of x) is handed to GEMM without a copy.
struct MatrixLayout {
  bool transposed = false;
  int64_t ld = 0;
  bool ok = false;
};

// A row stride at or past 2^31 (BLAS's int) is no layout: such a view is copied.
MatrixLayout layout_of(const Tensor& x) {
  int64_t d = x.dim();
  int64_t rows = x.shape()[d - 2], cols = x.shape()[d - 1];
  int64_t rs = x.strides()[d - 2], cs = x.strides()[d - 1];
  if (std::max(rs, cs) >= (int64_t{1} << 31) && rows > 1 && cols > 1) return {};
  if ((cs == 1 || cols == 1) && rs >= std::max<int64_t>(cols, 1)) return {false, rs, true};
  if ((rs == 1 || rows == 1) && cs >= std::max<int64_t>(rows, 1)) return {true, cs, true};
  if (rows == 1 && cols == 1) return {false, 1, true};
  return {};
}

// Batch stride of x after flattening its leading axes, or -1 when they are not uniform.
int64_t batch_stride(const Tensor& x, int64_t batch) {
  if (batch == 1) return 0;
  int64_t d = x.dim();
  int64_t stride = -1;
  int64_t expected_next = -1;
  for (int64_t i = d - 3; i >= 0; --i) {
    if (x.shape()[i] == 1) continue;
    if (stride < 0) {
      stride = x.strides()[i];
    } else if (x.strides()[i] != expected_next) {
      return -1;
    }
    expected_next = x.strides()[i] * x.shape()[i];
  }
  return stride < 0 ? 0 : stride;
}
}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  QTORCH_CHECK(a_in.defined() && b_in.defined(), "matmul: expected defined tensors");
  check_same_device("matmul", {&a_in, &b_in});
  QTORCH_CHECK(a_in.dim() >= 2 && b_in.dim() >= 2,
               "matmul: expected tensors with at least 2 axes, got {} x {}", shape_str(a_in.shape()),
               shape_str(b_in.shape()));
  int64_t m = a_in.size(-2), k = a_in.size(-1), k2 = b_in.size(-2), n = b_in.size(-1);
  QTORCH_CHECK(k == k2, "matmul: expected [M, K] x [K, N], got {} x {}", shape_str(a_in.shape()),
               shape_str(b_in.shape()));
  GemmArgs extents;  // refused before any copy when BLAS cannot take them
  extents.m = m;
  extents.n = n;
  extents.k = k;
  check_gemm_extents(extents, "matmul");
  Shape a_batch(a_in.shape().begin(), a_in.shape().end() - 2);
  Shape b_batch(b_in.shape().begin(), b_in.shape().end() - 2);
  Shape batch_shape = broadcast_shapes(a_batch, b_batch, "matmul");
  int64_t batch = numel_of(batch_shape);

  auto prepare = [&](const Tensor& x, int64_t rows, int64_t cols) {
    Shape full = batch_shape;
    full.push_back(rows);
    full.push_back(cols);
    Tensor v = x;
    if (x.shape() != full) {  // broadcast batch axes as stride-0 views
      size_t lead = full.size() - x.shape().size();
      Shape strides(full.size(), 0);
      for (size_t i = lead; i < full.size(); ++i) {
        strides[i] = x.shape()[i - lead] == 1 && full[i] != 1 ? 0 : x.strides()[i - lead];
      }
      v = as_strided(x, full, strides, x.offset());
    }
    if (!layout_of(v).ok || batch_stride(v, batch) < 0) v = broadcast_to(contiguous(v), full);
    return v;
  };
  Tensor a = prepare(a_in, m, k), b = prepare(b_in, k, n);

  Shape out_shape = batch_shape;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = empty(out_shape, a.device());
  if (out.numel() == 0) return out;
  if (k == 0) {
    out.zero_();
    return out;
  }
  MatrixLayout la = layout_of(a), lb = layout_of(b);
  GemmArgs g;
  g.trans_a = la.transposed;
  g.trans_b = lb.transposed;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a.data_ptr();
  g.lda = la.ld;
  g.stride_a = batch_stride(a, batch);
  g.b = b.data_ptr();
  g.ldb = lb.ld;
  g.stride_b = batch_stride(b, batch);
  g.c = out.data_ptr();
  g.ldc = n;
  g.stride_c = m * n;
  g.batch = batch;
  check_gemm_extents(g, "matmul");
  backend_for(a.device()).gemm(g);
  return out;
}

}  // namespace qtorch::ops
