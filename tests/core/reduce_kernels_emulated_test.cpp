// The CUDA backend's reductions (core/cuda/reduce_kernels.cuh) and softmax
// (core/cuda/softmax_kernels.cuh) run on the CPU through tests/support/cuda_emulation.h,
// launched by the library's own host code, on shapes that take every path: one warp per row,
// one block per row, rows split into chunks with a second pass, column tiles, and column
// segments with a finishing pass; softmax's warp and block rows.
// - Max, Min and ArgMax must give the CPU backend's bits, NaN and ties included.
// - Sums add in another order than the CPU: of whole numbers, whose every partial sum is exact
//   in float, they must equal the exact sum.
// - Softmax is checked against a double-precision reference within the bound of any float
//   summation order, and against itself (the same bits on a second run).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/qtorch.h"
#include "tests/support/cuda_emulation.h"
#include "tests/support/same_bits.h"
// After the emulation: the kernels see its CUDA keywords.
#include "qtorch/core/cuda/reduce_kernels.cuh"
#include "qtorch/core/cuda/softmax_kernels.cuh"

using namespace qtorch;
namespace rk = qtorch::cuda::reduce_kernels;
namespace sk = qtorch::cuda::softmax_kernels;

namespace {

const double kUlp = std::ldexp(1.0, -24);

/// Values on a grid of halves in [-8, 8] (ties for the maxima and minima), or uniform.
std::vector<float> values(int64_t count, uint32_t seed, bool coarse) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-8.0f, 8.0f);
  std::vector<float> v(static_cast<size_t>(count));
  for (float& e : v) e = coarse ? std::round(dist(rng) * 2.0f) / 2.0f : dist(rng);
  return v;
}

/// reduce through the library's host code on the CPU, with vectors for scratch.
std::vector<float> emulated_reduce(ReduceOp op, const std::vector<float>& x, int64_t outer, int64_t n, int64_t inner,
                                   int* scratch_uses = nullptr) {
  std::vector<float> y(static_cast<size_t>(outer * inner), -7.0f);
  std::vector<std::vector<rk::Acc>> scratch;
  rk::run_reduce(
      op, x.data(), outer, n, inner, y.data(),
      [&](int64_t count) {
        scratch.emplace_back(static_cast<size_t>(count), rk::Acc{-7.0f, -7});
        return scratch.back().data();
      },
      cuda_emulation::Launch{});
  if (scratch_uses != nullptr) *scratch_uses = static_cast<int>(scratch.size());
  return y;
}

std::vector<float> cpu_reduce(ReduceOp op, const std::vector<float>& x, int64_t outer, int64_t n, int64_t inner) {
  const Tensor xt = Tensor::from_vector(x, {outer, n, inner});
  Tensor out = empty({outer, inner});
  backend_for(Device::cpu()).reduce(op, xt, outer, n, inner, out);
  return out.to_vector();
}

struct ReduceShape {
  const char* path;
  int64_t outer, n, inner;
  bool second_pass;  // partial results in scratch
  // Every op, or ArgMax alone (the most involved combine): the 256 CUDA blocks that a block
  // per row takes at the least cost seconds per op here.
  bool every_op = true;
};

const ReduceShape kShapes[] = {
    {"a warp per row", 37, 1000, 1, false},
    {"a warp per row, n = 1", 5, 1, 1, false},
    {"a block per row", 256, 1100, 1, false, false},
    {"rows in chunks", 3, 40000, 1, true},
    {"column tiles", 4, 50, 70, false},
    {"column segments", 2, 3000, 33, true},
};

}  // namespace

TEST(ReduceKernelsEmulated, MaxMinAndArgMaxGiveTheCpuBitsOnEveryPath) {
  uint32_t seed = 1;
  for (const ReduceShape& s : kShapes) {
    std::vector<float> x = values(s.outer * s.n * s.inner, seed++, /*coarse=*/true);
    // A NaN in the first output's run (Max and Min propagate it, ArgMax points at it), and
    // zeros of both signs.
    x[static_cast<size_t>(s.n / 2 * s.inner)] = std::nanf("");
    for (size_t i = 5; i < x.size(); i += 97) x[i] = i % 2 ? 0.0f : -0.0f;
    for (ReduceOp op : {ReduceOp::Max, ReduceOp::Min, ReduceOp::ArgMax}) {
      if (!s.every_op && op != ReduceOp::ArgMax) continue;
      int uses = 0;
      const std::vector<float> got = emulated_reduce(op, x, s.outer, s.n, s.inner, &uses);
      EXPECT_EQ(uses, s.second_pass ? 1 : 0) << s.path;
      test_support::expect_same_bits(got, cpu_reduce(op, x, s.outer, s.n, s.inner),
                                     std::string(s.path) + " op " + std::to_string(static_cast<int>(op)));
    }
  }
}

TEST(ReduceKernelsEmulated, SumsOfWholeNumbersAreExact) {
  uint32_t seed = 100;
  for (const ReduceShape& s : kShapes) {
    if (!s.every_op) continue;
    std::vector<float> x = values(s.outer * s.n * s.inner, seed++, /*coarse=*/true);
    for (float& v : x) v = std::round(v);  // |sum| <= 8 n < 2^24: every partial sum is exact
    const std::vector<float> got = emulated_reduce(ReduceOp::Sum, x, s.outer, s.n, s.inner);
    int bad = 0;
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t j = 0; j < s.inner; ++j) {
        double exact = 0.0;
        for (int64_t k = 0; k < s.n; ++k) exact += x[static_cast<size_t>((o * s.n + k) * s.inner + j)];
        const size_t at = static_cast<size_t>(o * s.inner + j);
        if (got[at] != exact && bad++ < 5)
          ADD_FAILURE() << s.path << " output " << at << ": kernel " << got[at] << ", exact " << exact;
      }
  }
}

TEST(SoftmaxKernelsEmulated, WarpAndBlockRowsAgreeWithADoubleReference) {
  struct Case {
    const char* path;
    int64_t rows, cols;
  };
  const float inf = std::numeric_limits<float>::infinity();
  uint32_t seed = 200;
  for (const Case& c : {Case{"a warp per row", 37, 1000}, Case{"a warp per row, 1 column", 9, 1},
                        Case{"a warp per row, 33 columns", 9, 33}, Case{"a block per row", 3, 3000}}) {
    std::vector<float> x = values(c.rows * c.cols, seed++, /*coarse=*/false);
    if (c.cols > 2) {
      x[0] = -inf;                                               // row 0: one -inf (gives 0)
      x[static_cast<size_t>(c.cols + 1)] = std::nanf("");        // row 1: NaN everywhere
      for (int64_t k = 0; k < c.cols; ++k) x[static_cast<size_t>(2 * c.cols + k)] = 3.0f;  // row 2: equal
    }
    for (bool log : {false, true}) {
      const std::string what = std::string(c.path) + (log ? " log_softmax" : " softmax");
      std::vector<float> got(x.size(), -7.0f);
      sk::run_softmax(x.data(), got.data(), c.rows, c.cols, log, cuda_emulation::Launch{});
      int bad = 0;
      for (int64_t r = 0; r < c.rows; ++r) {
        const float* xr = x.data() + r * c.cols;
        double m = -INFINITY, s = 0.0;
        bool nan = false;
        for (int64_t k = 0; k < c.cols; ++k) {
          nan = nan || std::isnan(xr[k]);
          m = std::max(m, static_cast<double>(xr[k]));
        }
        for (int64_t k = 0; k < c.cols; ++k) s += std::exp(static_cast<double>(xr[k]) - m);
        const double lse = m + std::log(s);
        for (int64_t k = 0; k < c.cols; ++k) {
          const float g = got[static_cast<size_t>(r * c.cols + k)];
          const double want = log ? xr[k] - lse : std::exp(xr[k] - lse);
          // Relative n 2^-24 for the sum, a few roundings for exp, log and the products.
          const double scale = log ? std::fabs(xr[k]) + std::fabs(lse) + 1.0 : std::fabs(want);
          const double bound = static_cast<double>(c.cols + 8) * kUlp * scale;
          const bool ok = nan ? std::isnan(g) : (g == want || std::fabs(g - want) <= bound);
          if (!ok && bad++ < 5)
            ADD_FAILURE() << what << " row " << r << " column " << k << ": kernel " << g << ", reference " << want;
        }
      }
      std::vector<float> again(x.size(), -7.0f);
      sk::run_softmax(x.data(), again.data(), c.rows, c.cols, log, cuda_emulation::Launch{});
      test_support::expect_same_bits(again, got, what + ": a second run");
    }
  }
}

TEST(SoftmaxKernelsEmulated, LogSoftmaxOfLargeLogitsKeepsTheirDifferencesExact) {
  // (x - max) - log(sum), as the CPU: x - max is exact, so the error is a few roundings of the
  // small result. x - (max + log(sum)) rounded max + log(sum) at the logits' magnitude (an error
  // of 1e-3 near 2e4, the audit of session 24).
  for (const float centre : {1000.0f, 20000.0f}) {
    const int64_t rows = 64, cols = 10;
    std::vector<float> x = values(rows * cols, 7, /*coarse=*/false);
    for (float& v : x) v = centre + std::fmod(v, 1.0f);
    std::vector<float> got(x.size());
    sk::run_softmax(x.data(), got.data(), rows, cols, /*log=*/true, cuda_emulation::Launch{});
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * cols;
      double m = -INFINITY, s = 0.0;
      for (int64_t k = 0; k < cols; ++k) m = std::max(m, static_cast<double>(xr[k]));
      for (int64_t k = 0; k < cols; ++k) s += std::exp(static_cast<double>(xr[k]) - m);
      for (int64_t k = 0; k < cols; ++k) {
        const double want = (xr[k] - m) - std::log(s);
        const double bound = static_cast<double>(cols + 8) * kUlp * (std::fabs(xr[k] - m) + std::log(s) + 1.0);
        EXPECT_LE(std::fabs(got[static_cast<size_t>(r * cols + k)] - want), bound)
            << "logits near " << centre << ", row " << r << " column " << k;
      }
    }
  }
}
