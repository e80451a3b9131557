// CPU GEMM through OpenBLAS's row-major cblas_sgemm, split into blocks of C's rows that OpenMP
// runs in parallel, each block one single-threaded OpenBLAS call. OpenBLAS's own threading splits
// a product by the number of threads, which changes the bits of C; here the split depends on the
// shape only, so C has the same bits on any thread count.
#include <cblas.h>
#include <omp.h>

#include <algorithm>

#include "core/cpu/cpu_backend.h"

namespace qtorch::cpu {
namespace {

// Products with fewer multiply-adds, or fewer rows, are one call.
constexpr double kSplitWork = 1 << 20;
constexpr int64_t kSplitRows = 96;
// At most this many row blocks per product, whatever the thread count. A block is a multiple of
// 48 rows, which OpenBLAS's kernels (Haswell: 24 rows of C per tile) compute exactly as the
// unsplit product does, so one thread also gives the bits of one whole call.
constexpr int64_t kMaxBlocks = 8;
constexpr int64_t kRowQuantum = 48;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t block_rows(const GemmArgs& g) {
  const double work = static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k);
  if (g.m < kSplitRows || work < kSplitWork) return g.m;
  return ceil_div(ceil_div(g.m, kMaxBlocks), kRowQuantum) * kRowQuantum;
}

// Rows [r0, r0 + rows) of C for batch entry `entry`, on the calling thread only.
void gemm_rows(const GemmArgs& g, int64_t entry, int64_t r0, int64_t rows) {
  const float* a = g.a + entry * g.stride_a + (g.trans_a ? r0 : r0 * g.lda);
  float* c = g.c + entry * g.stride_c + r0 * g.ldc;
  auto call = [&] {
    cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans, g.trans_b ? CblasTrans : CblasNoTrans,
                static_cast<int>(rows), static_cast<int>(g.n), static_cast<int>(g.k), g.alpha, a,
                static_cast<int>(g.lda), g.b + entry * g.stride_b, static_cast<int>(g.ldb), g.beta, c,
                static_cast<int>(g.ldc));
  };
  // OpenBLAS's OpenMP build runs a call on omp_get_max_threads() threads unless the call is
  // made inside an active parallel region.
  if (omp_in_parallel()) {
    call();
    return;
  }
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  call();
  omp_set_num_threads(threads);
}

}  // namespace

void CpuBackend::gemm(const GemmArgs& g) {
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  const int64_t rows = block_rows(g), blocks = ceil_div(g.m, rows), tasks = g.batch * blocks;
  const bool parallel = tasks > 1 && static_cast<double>(g.batch) * g.m * g.n * g.k >= kSplitWork;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t r0 = t % blocks * rows;
    gemm_rows(g, t / blocks, r0, std::min(rows, g.m - r0));
  }
}

}  // namespace qtorch::cpu
