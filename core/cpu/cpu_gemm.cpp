// CPU GEMM through OpenBLAS's row-major cblas_sgemm, one call per batch entry.
#include <cblas.h>

#include "core/cpu/cpu_backend.h"

namespace qtorch::cpu {

void CpuBackend::gemm(const GemmArgs& g) {
  for (int64_t b = 0; b < g.batch; ++b) {
    cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans, g.trans_b ? CblasTrans : CblasNoTrans,
                static_cast<int>(g.m), static_cast<int>(g.n), static_cast<int>(g.k), g.alpha,
                g.a + b * g.stride_a, static_cast<int>(g.lda), g.b + b * g.stride_b,
                static_cast<int>(g.ldb), g.beta, g.c + b * g.stride_c, static_cast<int>(g.ldc));
  }
}

}  // namespace qtorch::cpu
