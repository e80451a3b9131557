// quant::StatsCounter on the CPU: it adds every counted call's clamped, flushed and element
// counts, adds nothing while paused, and gives the same counts as QuantizeOptions::stats.
// Expected counts worked by hand for fixed point <4, 2> (grid 0.25, range [-2, 1.75]).
#include <gtest/gtest.h>

#include "qtorch/quant/quantize.h"
#include "qtorch/quant/stats_counter.h"

namespace qtorch::quant::test {
namespace {

TEST(StatsCounter, AddsEveryCountedCallAndNothingWhilePaused) {
  StatsCounter counter;
  EXPECT_EQ(counter.read(), (QuantStats{0, 0, 0}));
  // 5 -> 1.75 and -3 -> -2 clamp; 0.1 -> 0 flushes (0.4 of a quantum); 0.5 is on the grid.
  const Tensor x = Tensor::from_vector({5.0f, -3.0f, 0.1f, 0.5f}, {4});
  const Number fixed = FixedPoint{.wl = 4, .fl = 2};
  Tensor y = quantize(x, fixed, Rounding::Nearest, {.counter = &counter});
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1.75f, -2.0f, 0.0f, 0.5f}));
  quantize(x, fixed, Rounding::Nearest, {.counter = &counter});
  EXPECT_EQ(counter.read(), (QuantStats{4, 2, 8}));

  counter.pause(true);
  quantize(x, fixed, Rounding::Nearest, {.counter = &counter});
  EXPECT_EQ(counter.read(), (QuantStats{4, 2, 8}));
  counter.pause(false);

  // stats and counter together: the call's own counts, and the running totals.
  QuantStats one;
  quantize(x, fixed, Rounding::Nearest, {.stats = &one, .counter = &counter});
  EXPECT_EQ(one, (QuantStats{2, 1, 4}));
  EXPECT_EQ(counter.read(), (QuantStats{6, 3, 12}));

  // In place (quantize_into) counts the same; an empty tensor counts nothing.
  Tensor z = x.clone();
  quantize_into(z, z, fixed, Rounding::Nearest, {.counter = &counter});
  quantize(Tensor::from_vector({}, {0}), fixed, Rounding::Nearest, {.counter = &counter});
  EXPECT_EQ(counter.read(), (QuantStats{8, 4, 16}));
}

TEST(StatsCounter, CountsEveryFamilyLikeStats) {
  const Tensor x = Tensor::from_vector({1e6f, -1e-9f, 3.0f, 0.0f, -1e6f, 2e-3f, 7.0f, 0.3f}, {2, 4});
  const Number numbers[] = {FixedPoint{.wl = 6, .fl = 3},
                            FloatingPoint{.exp = 4, .man = 3, .range = FloatRange::IEEE, .saturate = true},
                            BlockFloatingPoint{.wl = 4, .dim = 0}, formats::mxfp4()};
  for (const Number& number : numbers) {
    StatsCounter counter;
    QuantStats one;
    quantize(x, number, Rounding::Nearest, {.stats = &one});
    quantize(x, number, Rounding::Nearest, {.counter = &counter});
    EXPECT_EQ(counter.read(), one) << to_string(number);
    EXPECT_GT(one.clamped + one.flushed, 0) << to_string(number);
  }
}

}  // namespace
}  // namespace qtorch::quant::test
