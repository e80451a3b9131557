// CPU GEMM through OpenBLAS's row-major cblas_sgemm, split into blocks of C's rows that OpenMP
// runs in parallel, each block one single-threaded OpenBLAS call. OpenBLAS's own threading splits
// a product by the number of threads, which changes the bits of C; here the split depends on the
// shape only, so C has the same bits on any thread count.
#include <cblas.h>

#include <algorithm>

#include "qtorch/core/cpu/cpu_backend.h"
#include "qtorch/core/cpu/parallel.h"

namespace qtorch::cpu {
namespace {

// Products with fewer multiply-adds than this, or fewer than two blocks of rows, are one call.
constexpr double kSplitWork = 1 << 20;
// OpenBLAS threads no product with fewer multiply-adds than this (0.3.21, interface/gemm.c:
// SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD): such a call needs no parallel region.
constexpr double kBlasThreadsWork = 65536.0 * 4;
// Blocks have at least this many rows: each block packs all of op(B) again, which costs about as
// much as computing 64 rows, so smaller blocks would slow one thread down more than they help two.
constexpr int64_t kMinBlockRows = 64;
// Blocks are a multiple of 24 rows, which OpenBLAS's Haswell kernels (the ones this project's
// machines run) compute exactly as the unsplit product does: one thread also gives the bits of
// one whole call.
constexpr int64_t kRowQuantum = 24;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

double work(const GemmArgs& g) {
  return static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k);
}

int64_t block_rows(const GemmArgs& g) {
  if (g.m < 2 * kMinBlockRows || work(g) < kSplitWork) return g.m;
  return ceil_div(ceil_div(g.m, g.m / kMinBlockRows), kRowQuantum) * kRowQuantum;
}

// Rows [r0, r0 + rows) of C for batch entry `entry`.
void gemm_rows(const GemmArgs& g, int64_t entry, int64_t r0, int64_t rows) {
  const float* a = g.a + entry * g.stride_a + (g.trans_a ? r0 : r0 * g.lda);
  float* c = g.c + entry * g.stride_c + r0 * g.ldc;
  cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans, g.trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(rows), static_cast<int>(g.n), static_cast<int>(g.k), g.alpha, a,
              static_cast<int>(g.lda), g.b + entry * g.stride_b, static_cast<int>(g.ldb), g.beta, c,
              static_cast<int>(g.ldc));
}

}  // namespace

// Calls that OpenBLAS could thread are made inside a parallel region: OpenBLAS's OpenMP build
// runs a call on omp_get_max_threads() threads unless it is made inside an active parallel
// region, and then runs it on the calling thread alone. (Lowering the thread count around a call
// instead makes OpenBLAS resize its thread buffers on every call.)
void CpuBackend::gemm(const GemmArgs& g) {
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  const int64_t rows = block_rows(g), blocks = ceil_div(g.m, rows), tasks = g.batch * blocks;
  parallel_region(tasks > 1 || work(g) >= kBlasThreadsWork, [&] {
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t r0 = t % blocks * rows;
      gemm_rows(g, t / blocks, r0, std::min(rows, g.m - r0));
    }
  });
}

}  // namespace qtorch::cpu
