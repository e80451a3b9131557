// testing::check_stochastic_rounding: the library's stochastic rounding passes forward and
// backward; rounding down, a shifted grid, a value moving off the grid, a generator that
// ignores the seed and one that never advances each fail with their own message.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/quant/quantizer.h"
#include "qtorch/testing.h"

namespace qtorch::testing {
namespace {

Tensor T(const std::vector<float>& v) { return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}); }

// Values between grid points of FixedPoint{8, 4} (quantum 1/16), plus two on the grid and
// one that clamps (8 > t_max = 7.9375).
const std::vector<float> kValues = {0.03f, 0.1f, -0.2f, 1.01f, -3.3f, 0.5f, -2.0f, 8.0f, 0.06f, -0.0051f};
const FixedPoint kFixed{.wl = 8, .fl = 4};

TEST(TestingStochastic, LibraryStochasticRoundingPasses) {
  const Tensor x = T(kValues);
  const StochasticResult r = check_stochastic_rounding(
      [](const Tensor& t) { return quant::quantize(t, kFixed, Rounding::Stochastic); }, x, kFixed);
  EXPECT_TRUE(r) << r.message;
  EXPECT_TRUE(r.fresh_checked);
  // 7 elements between grid points, samples 2000, false alarm 1e-6 split in two.
  EXPECT_DOUBLE_EQ(r.bound, std::sqrt(std::log(2.0 * 7 / 0.5e-6) / (2.0 * 2000)));
  for (const Number& number : std::vector<Number>{FloatingPoint{.exp = 5, .man = 2}, formats::bf16(),
                                                  BlockFloatingPoint{.wl = 6, .dim = 0}}) {
    const Tensor y = Tensor::from_vector({0.3f, -1.7f, 0.011f, 5.5f, 100.1f, -0.7f}, {2, 3});
    const StochasticResult s = check_stochastic_rounding(
        [&](const Tensor& t) { return quant::quantize(t, number, Rounding::Stochastic); }, y, number,
        {.samples = 1000});
    EXPECT_TRUE(s) << to_string(number) << ": " << s.message;
  }
}

TEST(TestingStochastic, RoundingDownIsBiased) {
  const StochasticResult r = check_stochastic_rounding(
      [](const Tensor& t) { return quant::quantize(t, kFixed, Rounding::Down); }, T(kValues), kFixed);
  EXPECT_FALSE(r);
  EXPECT_EQ(r.off_grid, 0);
  EXPECT_EQ(r.moved, 0);
  EXPECT_GT(r.biased, 0);
  EXPECT_FALSE(r.fresh);  // deterministic: a second call repeats the first
  EXPECT_NE(r.message.find("fresh bits NO"), std::string::npos) << r.message;
}

// Stochastic rounding with a bias a mean test must catch: up with probability p/2.
TEST(TestingStochastic, HalvedProbabilityIsCaughtByTheMeanTest) {
  const auto biased = [](const Tensor& t) {
    const Tensor down = quant::quantize(t, kFixed, Rounding::Down);
    const Tensor coin = lt(rand(t.shape()), full(t.shape(), 0.5f));
    const Tensor sr = quant::quantize(t, kFixed, Rounding::Stochastic);
    return where(coin, sr, down);
  };
  const StochasticResult r = check_stochastic_rounding(biased, T({0.03f, 0.1f, -0.2f, 1.01f}), kFixed);
  EXPECT_FALSE(r);
  EXPECT_GT(r.biased, 0);
  EXPECT_EQ(r.off_grid, 0);
  EXPECT_NE(r.message.find("went up in"), std::string::npos) << r.message;
}

TEST(TestingStochastic, OffGridAndMovingValuesAreCaught) {
  // A finer grid than the format's: outputs that are neither neighbour.
  const StochasticResult fine = check_stochastic_rounding(
      [](const Tensor& t) { return quant::quantize(t, FixedPoint{.wl = 10, .fl = 6}, Rounding::Stochastic); },
      T({0.03f, 0.1f, -0.2f, 1.01f}), kFixed, {.samples = 200});
  EXPECT_FALSE(fine);
  EXPECT_GT(fine.off_grid, 0);
  EXPECT_NE(fine.message.find("neither neighbouring grid point"), std::string::npos) << fine.message;
  // A value on the grid that moves: 0.5 + 1e-3 rounds up a quantum now and then.
  const StochasticResult moved = check_stochastic_rounding(
      [](const Tensor& t) { return quant::quantize(t + 1e-3f, kFixed, Rounding::Stochastic); }, T({0.5f, -2.0f}),
      kFixed, {.samples = 500});
  EXPECT_FALSE(moved);
  EXPECT_GT(moved.moved, 0);
  EXPECT_NE(moved.message.find("is on the grid"), std::string::npos) << moved.message;
}

TEST(TestingStochastic, SeedAndFreshBits) {
  // Its own generator: manual_seed does not reset it, so the same seed gives other bits.
  auto own = std::make_shared<Generator>(5);
  const StochasticResult unseeded = check_stochastic_rounding(
      [own](const Tensor& t) {
        return quant::quantize(t, kFixed, Rounding::Stochastic, {.generator = own.get()});
      },
      T(kValues), kFixed, {.samples = 200});
  EXPECT_FALSE(unseeded.reproducible);
  EXPECT_NE(unseeded.message.find("same seed"), std::string::npos) << unseeded.message;
  // ... unless the check reseeds that generator.
  auto own2 = std::make_shared<Generator>(5);
  const StochasticResult reseeded = check_stochastic_rounding(
      [own2](const Tensor& t) {
        return quant::quantize(t, kFixed, Rounding::Stochastic, {.generator = own2.get()});
      },
      T(kValues), kFixed, {.samples = 200, .reseed = [own2](uint64_t s) { own2->set_state(s, 0); }});
  EXPECT_TRUE(reseeded) << reseeded.message;
  // A function that reseeds itself never draws fresh bits.
  const StochasticResult stale = check_stochastic_rounding(
      [](const Tensor& t) {
        manual_seed(3);
        return quant::quantize(t, kFixed, Rounding::Stochastic);
      },
      T(kValues), kFixed, {.samples = 200});
  EXPECT_TRUE(stale.reproducible);
  EXPECT_TRUE(stale.fresh_checked);
  EXPECT_FALSE(stale.fresh);
  EXPECT_FALSE(stale);
}

TEST(TestingStochastic, QuantizerBackward) {
  const Tensor g = T({0.03f, 0.1f, -0.2f, 1.01f, 0.5f});
  const auto good = quant::quantizer({.backward_number = kFixed, .backward_rounding = Rounding::Stochastic});
  const StochasticResult ok = check_stochastic_rounding_backward(good, g, kFixed, {.samples = 1000});
  EXPECT_TRUE(ok) << ok.message;
  const auto down = quant::quantizer({.backward_number = kFixed, .backward_rounding = Rounding::Down});
  const StochasticResult bad = check_stochastic_rounding_backward(down, g, kFixed, {.samples = 1000});
  EXPECT_FALSE(bad);
  EXPECT_GT(bad.biased, 0);
  EXPECT_THROW(check_stochastic_rounding_backward(good, g, kFixed, {}, T({1, 2})), Error);
}

}  // namespace
}  // namespace qtorch::testing
