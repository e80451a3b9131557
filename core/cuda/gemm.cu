// Row-major batched GEMM through cuBLAS by swapping the operands: a row-major [M, N]
// matrix is a column-major [N, M] one, so C^T = op(B)^T op(A)^T is one column-major call
// with B first. Transposes become flags; nothing is copied. Plain FP32 math (no TF32).
// A product with a small output and a long K (a convolution's weight gradient at large
// batch) is split along K into one batched call and a fixed-order sum (split_k below).
#include <algorithm>
#include <limits>

#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/scratch.h"
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cublas_api.h"
#include "qtorch/core/cuda/cuda_backend.h"

namespace qtorch::cuda {
namespace {

int to_int(int64_t v, const char* what) {
  QTORCH_CHECK(v >= 0 && v <= std::numeric_limits<int>::max(),
               "gemm: expected {} in [0, 2^31), got {}", what, v);
  return static_cast<int>(v);
}

/// C[b] = beta * C[b] for k == 0, where cuBLAS would not touch C consistently.
__global__ void scale_kernel(float* c, int64_t m, int64_t n, int64_t ldc, int64_t stride_c,
                             int64_t batch, float beta) {
  int64_t total = batch * m * n;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t b = idx / (m * n), r = idx / n % m, col = idx % n;
    float* p = c + b * stride_c + r * ldc + col;
    *p = beta == 0.0f ? 0.0f : beta * *p;
  }
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

// ---- split-K: a small output over a long K ----
// One call computes LeNet's first weight gradient at batch 1024, [6, 25] over K = 802 816,
// with a handful of CUDA blocks while the other SMs idle. Split along K, the chunks run as
// one batched call into scratch partial products, and one more kernel sums the partials
// in a fixed order: deterministic, and every SM busy.

/// Products with at most this many outputs and at least kSplitMinK terms are split.
constexpr int64_t kSplitMaxOutputs = 16384;
constexpr int64_t kSplitMinK = 65536;
/// Each chunk at least this long; at most kSplitMaxChunks chunks.
constexpr int64_t kSplitMinChunk = 4096;
constexpr int64_t kSplitMaxChunks = 256;

bool split_k_applies(const GemmArgs& g) {
  return g.batch == 1 && g.m * g.n <= kSplitMaxOutputs && g.k >= kSplitMinK;
}

/// c[i, j] = sum over s (in order) of partial[s][i, j] + beta c[i, j] (c not read when beta
/// is 0); partial is [parts, m, n] contiguous.
__global__ void sum_partials_kernel(const float* partial, int64_t parts, int64_t m, int64_t n, float* c,
                                    int64_t ldc, float beta) {
  const int64_t outputs = m * n;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < outputs;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float sum = 0.0f;
    for (int64_t s = 0; s < parts; ++s) sum += partial[s * outputs + idx];
    float* p = c + idx / n * ldc + idx % n;
    *p = beta == 0.0f ? sum : sum + beta * *p;
  }
}

void split_k(const GemmArgs& g, int device, cudaStream_t st) {
  leading_dims(g);  // the chunks' checks would take a shorter K
  const int64_t even = (g.k + kSplitMaxChunks - 1) / kSplitMaxChunks;  // K / kSplitMaxChunks, rounded up
  const int64_t chunk = std::max(kSplitMinChunk, (even + 255) / 256 * 256);
  const int64_t full = g.k / chunk, rest = g.k - full * chunk, parts = full + (rest > 0 ? 1 : 0);
  const int64_t outputs = g.m * g.n;
  const Scratch<float> partial(parts * outputs, device);
  // Where chunk s of K starts in A ([M, K], or [K, M] transposed) and B ([K, N], or [N, K]).
  const int64_t a_step = g.trans_a ? chunk * g.lda : chunk, b_step = g.trans_b ? chunk : chunk * g.ldb;
  GemmArgs part = g;
  part.beta = 0.0f;
  part.c = partial.p;
  part.ldc = g.n;
  part.k = chunk;
  part.batch = full;
  part.stride_a = a_step;
  part.stride_b = b_step;
  part.stride_c = outputs;
  cublas_gemm(part, device);
  if (rest > 0) {
    GemmArgs last = part;
    last.batch = 1;
    last.k = rest;
    last.a = g.a + full * a_step;
    last.b = g.b + full * b_step;
    last.c = partial.p + full * outputs;
    cublas_gemm(last, device);
  }
  sum_partials_kernel<<<blocks_for(outputs, 256), 256, 0, st>>>(partial.p, parts, g.m, g.n, g.c, g.ldc, g.beta);
  QTORCH_CUDA_CHECK_LAUNCH();
}

}  // namespace

void CudaBackend::gemm(const GemmArgs& g) {
  QTORCH_CHECK(g.m >= 0 && g.n >= 0 && g.k >= 0 && g.batch >= 0,
               "gemm: expected non-negative sizes, got m={}, n={}, k={}, batch={}", g.m, g.n, g.k,
               g.batch);
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  DeviceGuard guard(device_of_pointer(g.c));
  if (g.k == 0) {
    scale_kernel<<<blocks_for(g.batch * g.m * g.n, 256), 256, 0, guard.stream()>>>(
        g.c, g.m, g.n, g.ldc, g.stride_c, g.batch, g.beta);
    QTORCH_CUDA_CHECK_LAUNCH();
    return;
  }
  if (split_k_applies(g)) {
    split_k(g, guard.device(), guard.stream());
    return;
  }
  cublas_gemm(g, guard.device());
}

}  // namespace qtorch::cuda
