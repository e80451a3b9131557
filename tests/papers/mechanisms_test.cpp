// Exact tests of the mechanisms behind the paper reproductions: swamping of small additions
// under round-to-nearest and their survival in expectation under stochastic rounding.
// Expected values are worked out by hand in the comments (and in examples/papers/README.md).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "qtorch/core/generator.h"
#include "qtorch/core/tensor.h"
#include "qtorch/quant/number.h"
#include "qtorch/quant/quantize.h"

namespace {

using qtorch::Rounding;
using qtorch::Tensor;

float q1(float x, const qtorch::Number& n, Rounding r) {
  return qtorch::quant::quantize(Tensor::from_vector({x}, {1}), n, r).item();
}

// Sums 1/1 + 1/2 + ... in the format (each term and each partial sum rounded to nearest even)
// and returns {the sum where it stops growing, the first term that leaves it unchanged}.
std::pair<float, int> harmonic_stall(const qtorch::Number& n) {
  float s = 0.0f;
  for (int k = 1; k < 100000; ++k) {
    float term = q1(1.0f / float(k), n, Rounding::NearestEven);
    float next = q1(s + term, n, Rounding::NearestEven);
    if (next == s) return {s, k};
    s = next;
  }
  return {s, -1};
}

// bf16: the spacing just above 1.0 is 2^-7 = 0.0078125, half of it 0.00390625 > 0.001, so
// 1.0 + 0.001 rounds back to 1.0 every time: the thousand additions are all lost.
TEST(PapersMechanisms, Bf16NearestSwampsSmallAdditions) {
  const qtorch::Number bf16 = qtorch::formats::bf16();
  float s = 1.0f;
  for (int i = 0; i < 1000; ++i) s = q1(s + 0.001f, bf16, Rounding::Nearest);
  EXPECT_EQ(s, 1.0f);
  s = 1.0f;
  for (int i = 0; i < 1000; ++i) s = q1(s + 0.001f, bf16, Rounding::NearestEven);
  EXPECT_EQ(s, 1.0f);
}

// Stochastic rounding is unbiased, so the expected sum is 1 + 1000 * 0.001 = 2.0. One run has a
// standard deviation of about 0.08 (each step rounds up with p ~ 0.128 of a 2^-7 spacing); the
// mean of 200 independent runs (vectorised: one element per run) has sd ~ 0.006.
TEST(PapersMechanisms, Bf16StochasticKeepsSmallAdditionsOnAverage) {
  const qtorch::Number bf16 = qtorch::formats::bf16();
  qtorch::manual_seed(1234);
  const int runs = 200;
  Tensor s = qtorch::full({runs}, 1.0f);
  Tensor inc = qtorch::full({runs}, 0.001f);
  for (int i = 0; i < 1000; ++i) {
    Tensor sum = s.clone();
    sum.add_(inc);
    s = qtorch::quant::quantize(sum, bf16, Rounding::Stochastic);
  }
  std::vector<float> v = s.to_vector();
  double mean = 0;
  for (float x : v) {
    EXPECT_GT(x, 1.5f);
    EXPECT_LT(x, 2.5f);
    mean += x;
  }
  mean /= runs;
  EXPECT_NEAR(mean, 2.0, 0.03);
}

// fp16 (e5m10): on [4, 8) the spacing is 2^-8, so a term below half of it (2^-9 = 1/512) is
// lost. The partial sum stops at 7.0859375 = 1814/256, first unchanged by term 513.
TEST(PapersMechanisms, Fp16HarmonicSeriesStallsAtTerm513) {
  auto [sum, term] = harmonic_stall(qtorch::formats::fp16());
  EXPECT_EQ(sum, 7.0859375f);
  EXPECT_EQ(term, 513);
}

// bf16 (e8m7): on [4, 8) the spacing is 2^-5, half of it 1/64; the sum stops at 5.0625 = 81/16,
// first unchanged by term 65.
TEST(PapersMechanisms, Bf16HarmonicSeriesStallsAtTerm65) {
  auto [sum, term] = harmonic_stall(qtorch::formats::bf16());
  EXPECT_EQ(sum, 5.0625f);
  EXPECT_EQ(term, 65);
}

// Gradient descent on f(w) = (w - 0.3)^2 / 2 with lr 0.1 in fix<16,8> (quantum 2^-8):
// w <- Q(w - 0.1 (w - 0.3)). From 0, nearest climbs while the step 0.1 (0.3 - w) exceeds half
// a quantum (2^-9), i.e. while w < 0.3 - 0.01953125 = 0.28046875; the first grid point above is
// 72/256 = 0.28125, where the step (0.001875) rounds back: it stalls there for good.
TEST(PapersMechanisms, FixedPointGradientDescentNearestStalls) {
  const qtorch::Number fix = qtorch::FixedPoint{.wl = 16, .fl = 8};
  float w = 0.0f;
  for (int t = 0; t < 1000; ++t) w = q1(w - 0.1f * (w - 0.3f), fix, Rounding::Nearest);
  EXPECT_EQ(w, 0.28125f);
  EXPECT_EQ(q1(w - 0.1f * (w - 0.3f), fix, Rounding::Nearest), 0.28125f);
}

// With stochastic rounding E[w'] = 0.9 E[w] + 0.03, whose fixed point is 0.3 exactly. The
// iterates keep fluctuating (sd ~ 2^-8) but their mean lands within 1/(20*256) of 0.3. We run
// 256 independent chains for 2000 steps and average steps 200..1999 of every chain
// (effective samples ~ 256*1800/19, so the standard error is ~ 5e-5 < 1.95e-4).
TEST(PapersMechanisms, FixedPointGradientDescentStochasticMeanReachesOptimum) {
  const qtorch::Number fix = qtorch::FixedPoint{.wl = 16, .fl = 8};
  qtorch::manual_seed(7);
  const int chains = 256;
  Tensor w = qtorch::zeros({chains});
  double sum = 0;
  int64_t count = 0;
  for (int t = 0; t < 2000; ++t) {
    Tensor next = w.clone();
    next.mul_(0.9f);
    next.add_(qtorch::full({chains}, 0.03f));
    w = qtorch::quant::quantize(next, fix, Rounding::Stochastic);
    if (t >= 200)
      for (float x : w.to_vector()) {
        sum += x;
        ++count;
      }
  }
  const double mean = sum / double(count);
  EXPECT_NEAR(mean, 0.3, 1.0 / (20.0 * 256.0));
  // Nearest from the same start is stuck 0.01875 below: stochastic rounding removes that bias.
  EXPECT_GT(std::abs(0.28125 - 0.3), 1.0 / (20.0 * 256.0));
}

}  // namespace
