// CPU GEMM through OpenBLAS's row-major cblas_sgemm, split into blocks that OpenMP runs in
// parallel, each block one single-threaded OpenBLAS call. OpenBLAS's own threading splits a
// product by the number of threads, which changes the bits of C; here the split depends on the
// shape only, so C has the same bits on any thread count.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "core/cpu/cpu_backend.h"

namespace qtorch::cpu {
namespace {

// Products smaller than this (multiply-adds) are one call: splitting them costs more than it gains.
constexpr int64_t kSplitWork = int64_t{1} << 20;
// At most this many blocks per product, whatever the thread count.
constexpr int64_t kMaxBlocks = 8;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Block sizes along C's rows, C's columns and the inner dimension; at most one is split.
// Rows come in multiples of 48, which OpenBLAS's kernels (Haswell: 24 rows of C per tile) compute
// exactly as the unsplit product; columns and depth are split only when C has few rows.
struct Blocks {
  int64_t rows, cols, depth;
};

double work(const GemmArgs& g) { return static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k); }

Blocks plan(const GemmArgs& g) {
  Blocks b{g.m, g.n, g.k};
  if (work(g) < kSplitWork) return b;
  if (g.m >= 96) {
    b.rows = round_up(ceil_div(g.m, kMaxBlocks), 48);
  } else if (g.n >= 1024) {
    b.cols = round_up(ceil_div(g.n, kMaxBlocks), 64);
  } else if (g.k >= 4096) {
    b.depth = round_up(ceil_div(g.k, kMaxBlocks), 256);
  }
  return b;
}

// C[r0:r0+rows, c0:c0+cols] (+)= alpha * op(A)[rows, k0:k0+depth] * op(B)[k0:k0+depth, cols] for
// batch entry `entry`, written to `c` with leading dimension `ldc`.
void gemm_block(const GemmArgs& g, int64_t entry, int64_t r0, int64_t rows, int64_t c0, int64_t cols,
                int64_t k0, int64_t depth, float beta, float* c, int64_t ldc) {
  const float* a = g.a + entry * g.stride_a + (g.trans_a ? k0 * g.lda + r0 : r0 * g.lda + k0);
  const float* b = g.b + entry * g.stride_b + (g.trans_b ? c0 * g.ldb + k0 : k0 * g.ldb + c0);
  auto call = [&] {
    cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans, g.trans_b ? CblasTrans : CblasNoTrans,
                static_cast<int>(rows), static_cast<int>(cols), static_cast<int>(depth), g.alpha, a,
                static_cast<int>(g.lda), b, static_cast<int>(g.ldb), beta, c, static_cast<int>(ldc));
  };
  // OpenBLAS's OpenMP build runs a call on omp_get_max_threads() threads unless it is made
  // inside an active parallel region.
  if (omp_in_parallel()) {
    call();
    return;
  }
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  call();
  omp_set_num_threads(threads);
}

// The inner dimension in blocks: each block's product goes to its own buffer, and the buffers
// are added to C in block order.
void gemm_split_depth(const GemmArgs& g, int64_t entry, int64_t depth) {
  const int64_t blocks = ceil_div(g.k, depth), mn = g.m * g.n;
  std::vector<float> partial(static_cast<size_t>(blocks * mn));
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < blocks; ++j)
    gemm_block(g, entry, 0, g.m, 0, g.n, j * depth, std::min(depth, g.k - j * depth), 0.0f,
               partial.data() + j * mn, g.n);
  float* c = g.c + entry * g.stride_c;
  for (int64_t r = 0; r < g.m; ++r) {
    for (int64_t col = 0; col < g.n; ++col) {
      float sum = partial[static_cast<size_t>(r * g.n + col)];
      for (int64_t j = 1; j < blocks; ++j) sum += partial[static_cast<size_t>(j * mn + r * g.n + col)];
      float& out = c[r * g.ldc + col];
      out = g.beta == 0.0f ? sum : g.beta * out + sum;  // beta 0 never reads C, as in BLAS
    }
  }
}

}  // namespace

void CpuBackend::gemm(const GemmArgs& g) {
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  const Blocks blk = plan(g);
  if (blk.depth < g.k) {
    for (int64_t e = 0; e < g.batch; ++e) gemm_split_depth(g, e, blk.depth);
    return;
  }
  const int64_t row_blocks = ceil_div(g.m, blk.rows), col_blocks = ceil_div(g.n, blk.cols);
  const int64_t per_entry = row_blocks * col_blocks, tasks = g.batch * per_entry;
#pragma omp parallel for schedule(static) if (tasks > 1 && static_cast<double>(g.batch) * work(g) >= kSplitWork)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t e = t / per_entry, r0 = (t % per_entry) / col_blocks * blk.rows,
                  c0 = t % col_blocks * blk.cols;
    const int64_t rows = std::min(blk.rows, g.m - r0), cols = std::min(blk.cols, g.n - c0);
    gemm_block(g, e, r0, rows, c0, cols, 0, g.k, g.beta, g.c + e * g.stride_c + r0 * g.ldc + c0, g.ldc);
  }
}

}  // namespace qtorch::cpu
