// The CUDA backend's split-K GEMM (core/cuda/gemm_kernels.cuh: the chunks' pointer steps and
// the last short chunk, one batched GEMM, the fixed-order sum kernel) and its K = 0 scaling
// kernel run on the CPU through tests/support/cuda_emulation.h, with the CPU backend's GEMM
// standing in for cuBLAS. The operands are small integers, so that every partial sum is an
// integer below 2^24 and exact in float whatever the order: each output must equal the exact
// product, for every transpose pair, K a multiple of the chunk or not, beta 0 and not, and
// an output with ldc > n. The partial products are summed in chunk order.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/qtorch.h"
#include "tests/support/cuda_emulation.h"
// After the emulation: the kernels see its CUDA keywords.
#include "qtorch/core/cuda/gemm_kernels.cuh"

using namespace qtorch;
namespace gk = qtorch::cuda::gemm_kernels;

namespace {

/// Whole numbers in [-2, 2].
std::vector<float> small_integers(int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-2, 2);
  std::vector<float> v(static_cast<size_t>(count));
  for (float& e : v) e = static_cast<float>(dist(rng));
  return v;
}

/// run_split_k on the CPU: vectors for scratch, the CPU backend's GEMM for cuBLAS. Returns
/// how many GEMM calls it made.
int emulated_split_k(const GemmArgs& g) {
  std::vector<std::vector<float>> scratch;
  int calls = 0;
  gk::run_split_k(
      g,
      [&](int64_t count) {
        scratch.emplace_back(static_cast<size_t>(count), std::nanf(""));  // unwritten partials show
        return scratch.back().data();
      },
      [&](const GemmArgs& chunks) {
        ++calls;
        backend_for(Device::cpu()).gemm(chunks);
      },
      cuda_emulation::Launch{});
  return calls;
}

}  // namespace

TEST(SplitKEmulated, EveryTransposePairAndChunkingGivesTheExactProduct) {
  struct Case {
    int64_t m, n, k;
    bool trans_a, trans_b;
    float beta;
    int64_t ldc_pad;
    int calls;  // 1: K is a multiple of the chunk; 2: a short last chunk too
  };
  // K = 65536 splits into 16 chunks of 4096; K = 70001 into 17 of 4096 and one of 369;
  // K = 1 500 000 into 254 of 5888 and one of 4448.
  const Case cases[] = {
      {6, 25, 65536, false, true, 0.0f, 0, 1},    // a convolution's weight gradient
      {6, 25, 70001, false, true, 0.0f, 0, 2},
      {5, 7, 70001, false, false, 0.5f, 3, 2},
      {5, 7, 70001, true, false, 0.0f, 0, 2},
      {5, 7, 70001, true, true, -1.0f, 1, 2},
      {3, 4, 1500000, false, true, 0.0f, 0, 2},
  };
  uint32_t seed = 1;
  for (const Case& c : cases) {
    const std::string what = std::to_string(c.m) + "x" + std::to_string(c.n) + " over K=" + std::to_string(c.k) +
                             (c.trans_a ? " A^T" : "") + (c.trans_b ? " B^T" : "") + " beta " +
                             std::to_string(c.beta);
    const std::vector<float> a = small_integers(c.m * c.k, seed++), b = small_integers(c.k * c.n, seed++);
    const int64_t ldc = c.n + c.ldc_pad;
    const std::vector<float> c0 = small_integers(c.m * ldc, seed++);
    GemmArgs g;
    g.trans_a = c.trans_a;
    g.trans_b = c.trans_b;
    g.m = c.m;
    g.n = c.n;
    g.k = c.k;
    g.alpha = 1.0f;
    g.beta = c.beta;
    g.a = a.data();
    g.lda = c.trans_a ? c.m : c.k;
    g.b = b.data();
    g.ldb = c.trans_b ? c.k : c.n;
    g.ldc = ldc;
    ASSERT_TRUE(gk::split_k_applies(g)) << what;
    std::vector<float> got = c0;
    g.c = got.data();
    EXPECT_EQ(emulated_split_k(g), c.calls) << what;

    int bad = 0;
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < ldc; ++j) {
        const size_t at = static_cast<size_t>(i * ldc + j);
        if (j >= c.n) {  // past the row's n outputs: untouched
          EXPECT_EQ(got[at], c0[at]) << what << " padding " << at;
          continue;
        }
        double exact = c.beta * static_cast<double>(c0[at]);
        for (int64_t p = 0; p < c.k; ++p)
          exact += static_cast<double>(a[static_cast<size_t>(c.trans_a ? p * c.m + i : i * c.k + p)]) *
                   b[static_cast<size_t>(c.trans_b ? j * c.k + p : p * c.n + j)];
        if (got[at] != exact && bad++ < 5)
          ADD_FAILURE() << what << " output " << i << "," << j << ": kernel " << got[at] << ", exact " << exact;
      }
  }
}

TEST(SplitKEmulated, TheSumOfPartialsIsInChunkOrder) {
  // 200 partial products of 37 outputs, of magnitudes from 1e-3 to 1e7 and both signs, where
  // another order (a tree, or backwards) would round differently; on two CUDA blocks of 32
  // threads, so that the grid-stride loop runs too.
  const int64_t parts = 200, outputs = 37;
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> exponent(-3.0f, 7.0f);
  std::vector<float> partial(static_cast<size_t>(parts * outputs));
  for (float& p : partial) p = std::pow(10.0f, exponent(rng)) * (rng() % 2 ? 1.0f : -1.0f);
  std::vector<float> c(static_cast<size_t>(outputs), 5.0f);
  cuda_emulation::launch(gk::sum_partials_kernel, dim3(2), dim3(32), static_cast<const float*>(partial.data()), parts,
                         int64_t{1}, outputs, c.data(), outputs, 0.0f);
  int backwards_differs = 0;
  for (int64_t j = 0; j < outputs; ++j) {
    float in_order = 0.0f, backwards = 0.0f;
    for (int64_t s = 0; s < parts; ++s) in_order += partial[static_cast<size_t>(s * outputs + j)];
    for (int64_t s = parts - 1; s >= 0; --s) backwards += partial[static_cast<size_t>(s * outputs + j)];
    EXPECT_EQ(c[static_cast<size_t>(j)], in_order) << "output " << j;
    backwards_differs += backwards != in_order;
  }
  EXPECT_GT(backwards_differs, 10) << "the data must tell the orders apart";
}

TEST(SplitKEmulated, ZeroKScalesTheOutputByBeta) {
  // Two batches of [3, 4] in a [3, 6] layout (ldc 6), 20 floats apart.
  std::vector<float> c = small_integers(40, 5);
  c[1] = std::nanf("");  // beta 0 writes 0 even over NaN, as cuBLAS's beta = 0 does
  const std::vector<float> c0 = c;
  for (float beta : {0.0f, -2.0f}) {
    GemmArgs g;
    g.m = 3;
    g.n = 4;
    g.k = 0;
    g.beta = beta;
    g.c = c.data();
    g.ldc = 6;
    g.stride_c = 20;
    g.batch = 2;
    c = c0;
    gk::run_scale(g, cuda_emulation::Launch{});
    for (int64_t i = 0; i < 40; ++i) {
      const int64_t in_batch = i % 20, row = in_batch / 6, col = in_batch % 6;
      const bool output = row < 3 && col < 4;
      const float want = !output ? c0[static_cast<size_t>(i)] : beta == 0.0f ? 0.0f : beta * c0[static_cast<size_t>(i)];
      if (std::isnan(want))
        EXPECT_TRUE(std::isnan(c[static_cast<size_t>(i)])) << i;
      else
        EXPECT_EQ(c[static_cast<size_t>(i)], want) << "beta " << beta << " at " << i;
    }
  }
}
