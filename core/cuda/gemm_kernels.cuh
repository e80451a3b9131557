// The CUDA backend's GEMM kernels besides cuBLAS, with the host code that launches them
// (taking launch(kernel, grid, threads, args...): cuda::QueuedLaunch in the library):
// - run_scale: C = beta C for K = 0, where cuBLAS would not touch C consistently;
// - run_split_k: a product with a small output over a long K (a convolution's weight gradient
//   at large batch) split along K into one batched GEMM of the chunks (`gemm`: cuBLAS in the
//   library) and a fixed-order sum of the partial products.
// Plain C++ apart from the CUDA keywords that tests/support/cuda_emulation.h provides, so
// tests/core/split_k_emulated_test.cpp runs them on the CPU with the CPU backend's GEMM.
#pragma once

#include <algorithm>
#include <cstdint>

#include "qtorch/core/backend.h"
#include "qtorch/core/cuda/grid.h"

namespace qtorch::cuda::gemm_kernels {

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

template <class Launch>
void run_scale(const GemmArgs& g, const Launch& launch) {
  launch(scale_kernel, dim3(blocks_for(g.batch * g.m * g.n, 256)), dim3(256), g.c, g.m, g.n, g.ldc, g.stride_c,
         g.batch, g.beta);
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

inline bool split_k_applies(const GemmArgs& g) {
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

/// C = alpha op(A) op(B) + beta C for split_k_applies(g). scratch(count) gives memory for
/// `count` floats that stays valid until the work is queued (or done); gemm(args) runs a
/// (batched) GEMM with beta 0 into it.
template <class Scratch, class Gemm, class Launch>
void run_split_k(const GemmArgs& g, Scratch scratch, Gemm gemm, const Launch& launch) {
  const int64_t even = (g.k + kSplitMaxChunks - 1) / kSplitMaxChunks;  // K / kSplitMaxChunks, rounded up
  const int64_t chunk = std::max(kSplitMinChunk, (even + 255) / 256 * 256);
  const int64_t full = g.k / chunk, rest = g.k - full * chunk, parts = full + (rest > 0 ? 1 : 0);
  const int64_t outputs = g.m * g.n;
  float* const partial = scratch(parts * outputs);
  // Where chunk s of K starts in A ([M, K], or [K, M] transposed) and B ([K, N], or [N, K]).
  const int64_t a_step = g.trans_a ? chunk * g.lda : chunk, b_step = g.trans_b ? chunk : chunk * g.ldb;
  GemmArgs part = g;
  part.beta = 0.0f;
  part.c = partial;
  part.ldc = g.n;
  part.k = chunk;
  part.batch = full;
  part.stride_a = a_step;
  part.stride_b = b_step;
  part.stride_c = outputs;
  gemm(part);
  if (rest > 0) {
    GemmArgs last = part;
    last.batch = 1;
    last.k = rest;
    last.a = g.a + full * a_step;
    last.b = g.b + full * b_step;
    last.c = partial + full * outputs;
    gemm(last);
  }
  launch(sum_partials_kernel, dim3(blocks_for(outputs, 256)), dim3(256), static_cast<const float*>(partial), parts,
         g.m, g.n, g.c, g.ldc, g.beta);
}

}  // namespace qtorch::cuda::gemm_kernels
