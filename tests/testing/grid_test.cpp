// testing::grid_neighbours and friends: hand-computed values from docs/numerics.md, and a
// cross-check with the quantize kernels (Down and Up must land on the two neighbours).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "qtorch/core/error.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/testing.h"

namespace qtorch::testing {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

void expect_pair(const GridNeighbours& g, float lower, float upper) {
  EXPECT_EQ(bits_of(g.lower), bits_of(lower)) << g.lower << " vs " << lower;
  EXPECT_EQ(bits_of(g.upper), bits_of(upper)) << g.upper << " vs " << upper;
}

TEST(TestingGrid, FixedPoint) {
  const FixedPoint f{.wl = 5, .fl = 4};  // quantum 1/16, range [-1, 0.9375]
  expect_pair(grid_neighbours(0.1f, f), 0.0625f, 0.125f);
  expect_pair(grid_neighbours(-0.03f, f), -0.0625f, -0.0f);
  expect_pair(grid_neighbours(0.5f, f), 0.5f, 0.5f);
  expect_pair(grid_neighbours(0.96875f, f), 0.9375f, 0.9375f);  // the upper point clamps
  expect_pair(grid_neighbours(-3.0f, f), -1.0f, -1.0f);
  expect_pair(grid_neighbours(kInf, f), 0.9375f, 0.9375f);
  expect_pair(grid_neighbours(-1.0f, FixedPoint{.wl = 5, .fl = 4, .symmetric = true}), -0.9375f, -0.9375f);
  expect_pair(grid_neighbours(3.03f, FixedPoint{.wl = 5, .fl = 4, .clamp = false}), 3.0f, 3.0625f);
  EXPECT_EQ(format_max(f), 0.9375);
  EXPECT_EQ(format_max(FixedPoint{.wl = 32, .fl = 0}), 2147483520.0);  // t_max not a float32
  EXPECT_EQ(min_normal(f), 0.0625);
  EXPECT_EQ(quantum_at(0.3f, f), 0.0625);
  EXPECT_TRUE(is_representable(-1.0f, f));
  EXPECT_TRUE(is_representable(0.9375f, f));
  EXPECT_FALSE(is_representable(1.0f, f));
  EXPECT_FALSE(is_representable(0.1f, f));
}

TEST(TestingGrid, FloatingPoint) {
  const FloatingPoint e5m2{.exp = 5, .man = 2};  // reference semantics: max 114688, emin -14
  expect_pair(grid_neighbours(1.1f, e5m2), 1.0f, 1.25f);
  expect_pair(grid_neighbours(-3.3f, e5m2), -3.5f, -3.0f);
  expect_pair(grid_neighbours(0.3f * std::ldexp(1.0f, -16), e5m2), 0.0f, std::ldexp(1.0f, -16));
  expect_pair(grid_neighbours(123000.0f, e5m2), 114688.0f, 114688.0f);  // saturates
  expect_pair(grid_neighbours(kInf, e5m2), 114688.0f, 114688.0f);
  EXPECT_EQ(format_max(e5m2), 114688.0);
  EXPECT_EQ(format_max(FloatingPoint{.exp = 4, .man = 3}), 480.0);
  EXPECT_EQ(min_normal(e5m2), std::ldexp(1.0, -14));
  EXPECT_EQ(quantum_at(1.1f, e5m2), 0.25);
  EXPECT_EQ(quantum_at(1e-6f, e5m2), std::ldexp(1.0, -16));  // subnormal spacing
  // IEEE / OCP presets (docs/numerics.md table).
  EXPECT_EQ(format_max(formats::fp16()), 65504.0);
  EXPECT_EQ(format_max(formats::fp8_e4m3()), 448.0);
  EXPECT_EQ(format_max(formats::fp8_e5m2()), 57344.0);
  EXPECT_EQ(format_max(formats::hfp8_e4m3()), 30.0);
  EXPECT_EQ(min_normal(formats::hfp8_e4m3()), std::ldexp(1.0, -10));
  expect_pair(grid_neighbours(65519.0f, formats::fp16()), 65504.0f, kInf);  // overflows to inf
  const GridNeighbours e4m3 = grid_neighbours(460.0f, formats::fp8_e4m3());
  EXPECT_EQ(e4m3.lower, 448.0f);
  EXPECT_TRUE(std::isnan(e4m3.upper));  // FiniteNaN: overflow is NaN
  expect_pair(grid_neighbours(460.0f, formats::fp8_e4m3_sat()), 448.0f, 448.0f);
  // Subnormals off: the grid below 2^emin is {0, 2^emin}.
  const FloatingPoint nosub{.exp = 5, .man = 2, .subnormals = false};
  expect_pair(grid_neighbours(0.75f * std::ldexp(1.0f, -14), nosub), 0.0f, std::ldexp(1.0f, -14));
  EXPECT_TRUE(is_representable(kInf, formats::fp16()));
  EXPECT_FALSE(is_representable(kInf, e5m2));
  EXPECT_FALSE(is_representable(std::numeric_limits<float>::quiet_NaN(), e5m2));
  EXPECT_TRUE(is_representable(1.25f, e5m2));
  EXPECT_FALSE(is_representable(1.1f, e5m2));
}

TEST(TestingGrid, BlockFloatingPointTakesTheBlockMax) {
  const BlockFloatingPoint b{.wl = 4};
  // Block max 30: E = 4, s = 4, largest magnitude 28 (docs/numerics.md).
  EXPECT_EQ(block_exponent(30.0f), 4);
  EXPECT_EQ(block_exponent(1e-40f), -126);
  expect_pair(grid_neighbours(10.0f, b, 30.0f), 8.0f, 12.0f);
  expect_pair(grid_neighbours(30.0f, b, 30.0f), 28.0f, 28.0f);
  expect_pair(grid_neighbours(-0.1f, b, 30.0f), -4.0f, -0.0f);
  EXPECT_EQ(format_max(b, 30.0f), 28.0);
  EXPECT_EQ(quantum_at(1.0f, b, 30.0f), 4.0);
  EXPECT_EQ(min_normal(b, 0.3f), 1.0 / 16);
  EXPECT_TRUE(std::isnan(grid_neighbours(1.0f, b, kInf).lower));
  EXPECT_THROW(grid_neighbours(1.0f, b), Error);
  // Per-element maxima for dim = 0: rows [0.1, 0.2, 0.3] and [10, 20, 30].
  const Tensor x = Tensor::from_vector({0.1f, 0.2f, 0.3f, 10, 20, 30}, {2, 3});
  EXPECT_EQ(block_maxima(x, {.wl = 4, .dim = 0}), (std::vector<float>{0.3f, 0.3f, 0.3f, 30, 30, 30}));
  EXPECT_EQ(block_maxima(x, {.wl = 4, .dim = 1}), (std::vector<float>{10, 20, 30, 10, 20, 30}));
  EXPECT_EQ(block_maxima(x, {.wl = 4, .dim = -1}), std::vector<float>(6, 30.0f));
}

// The kernels rounding Down / Up land on the lower / upper neighbour, for many values.
TEST(TestingGrid, AgreesWithDirectedRoundingOfTheKernels) {
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v;
  for (int i = 0; i < 2000; ++i) v.push_back(normal(gen) * std::ldexp(1.0f, static_cast<int>(gen() % 40) - 20));
  const Tensor x = Tensor::from_vector(v, {40, 50});
  const std::vector<Number> numbers = {FixedPoint{.wl = 8, .fl = 4}, FixedPoint{.wl = 12, .fl = 10, .clamp = false},
                                       FloatingPoint{.exp = 5, .man = 2}, formats::bf16(), formats::fp8_e4m3_sat(),
                                       FloatingPoint{.exp = 4, .man = 3, .subnormals = false},
                                       BlockFloatingPoint{.wl = 8, .dim = 0}, BlockFloatingPoint{.wl = 5}};
  for (const Number& number : numbers) {
    const std::vector<GridNeighbours> g = grid_neighbours(x, number);
    const std::vector<float> down = quant::quantize(x, number, Rounding::Down).to_vector();
    const std::vector<float> up = quant::quantize(x, number, Rounding::Up).to_vector();
    std::vector<float> lower, upper;
    for (const GridNeighbours& n : g) {
      lower.push_back(n.lower);
      upper.push_back(n.upper);
    }
    EXPECT_TRUE(expect_bitwise_equal(down, lower)) << to_string(number) << ": " << expect_bitwise_equal(down, lower).message;
    EXPECT_TRUE(expect_bitwise_equal(up, upper)) << to_string(number) << ": " << expect_bitwise_equal(up, upper).message;
  }
}

}  // namespace
}  // namespace qtorch::testing
