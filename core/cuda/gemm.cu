// Row-major batched GEMM through cuBLAS by swapping the operands: a row-major [M, N]
// matrix is a column-major [N, M] one, so C^T = op(B)^T op(A)^T is one column-major call
// with B first. Transposes become flags; nothing is copied. Plain FP32 math (no TF32).
// A product with a small output and a long K (a convolution's weight gradient at large
// batch) is split along K into one batched call and a fixed-order sum (gemm_kernels.cuh).
#include <algorithm>
#include <limits>
#include <optional>

#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cublas_api.h"
#include "qtorch/core/cuda/cuda_backend.h"
#include "qtorch/core/cuda/gemm_kernels.cuh"
#include "qtorch/core/cuda/queued_launch.cuh"
#include "qtorch/core/cuda/scratch.h"

namespace qtorch::cuda {
namespace {

int to_int(int64_t v, const char* what) {
  QTORCH_CHECK(v >= 0 && v <= std::numeric_limits<int>::max(),
               "gemm: expected {} in [0, 2^31), got {}", what, v);
  return static_cast<int>(v);
}

struct LeadingDims {
  int lda, ldb, ldc;
};

/// The leading dimensions cuBLAS gets, checked against the operands' shapes. The row-major
/// operands as stored: A is [M, K] (or [K, M] when transposed), B is [K, N] (or [N, K]);
/// column-major, each is its own transpose. A leading dimension is never used when the
/// other extent of its matrix is 1, but cuBLAS still checks it: such ones are raised to the
/// minimum.
LeadingDims leading_dims(const GemmArgs& g) {
  int64_t lda64 = g.lda, ldb64 = g.ldb, ldc64 = g.ldc;
  int64_t need_a = g.trans_a ? g.m : g.k, need_b = g.trans_b ? g.k : g.n;
  if ((g.trans_a ? g.k : g.m) == 1) lda64 = std::max(lda64, need_a);
  if ((g.trans_b ? g.n : g.k) == 1) ldb64 = std::max(ldb64, need_b);
  if (g.m == 1) ldc64 = std::max(ldc64, g.n);
  QTORCH_CHECK(ldc64 >= g.n && lda64 >= need_a && ldb64 >= need_b,
               "gemm: leading dimensions too small: lda={}, ldb={}, ldc={} for m={}, n={}, k={}",
               g.lda, g.ldb, g.ldc, g.m, g.n, g.k);
  return {to_int(lda64, "lda"), to_int(ldb64, "ldb"), to_int(ldc64, "ldc")};
}

/// C = alpha op(A) op(B) + beta C through cuBLAS (k > 0).
void cublas_gemm(const GemmArgs& g, int device) {
  const auto [lda, ldb, ldc] = leading_dims(g);
  int m = to_int(g.m, "m"), n = to_int(g.n, "n"), k = to_int(g.k, "k");
  cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasHandle_t h = cublas(device);
  if (g.batch == 1) {
    QTORCH_CUBLAS_CHECK(cublas_api().sgemm(h, op_b, op_a, n, m, k, &g.alpha, g.b, ldb, g.a, lda, &g.beta,
                                    g.c, ldc));
  } else {
    QTORCH_CUBLAS_CHECK(cublas_api().sgemm_strided_batched(h, op_b, op_a, n, m, k, &g.alpha, g.b, ldb,
                                                  g.stride_b, g.a, lda, g.stride_a, &g.beta, g.c,
                                                  ldc, g.stride_c, to_int(g.batch, "batch")));
  }
}

}  // namespace

void CudaBackend::gemm(const GemmArgs& g) {
  QTORCH_CHECK(g.m >= 0 && g.n >= 0 && g.k >= 0 && g.batch >= 0,
               "gemm: expected non-negative sizes, got m={}, n={}, k={}, batch={}", g.m, g.n, g.k,
               g.batch);
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  DeviceGuard guard(device_of_pointer(g.c));
  if (g.k == 0) {
    gemm_kernels::run_scale(g, QueuedLaunch{guard.stream()});
    return;
  }
  if (gemm_kernels::split_k_applies(g)) {
    leading_dims(g);  // the chunks' checks would take a shorter K
    std::optional<Scratch<float>> partial;
    gemm_kernels::run_split_k(
        g, [&](int64_t count) { return partial.emplace(count, guard.device()).p; },
        [&](const GemmArgs& chunks) { cublas_gemm(chunks, guard.device()); }, QueuedLaunch{guard.stream()});
    return;
  }
  cublas_gemm(g, guard.device());
}

}  // namespace qtorch::cuda
