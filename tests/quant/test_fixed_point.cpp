// Fixed point: exact tables from docs/numerics.md and the reference library's checks restated.
#include <algorithm>

#include "qtorch/core/tensor.h"
#include "qtorch/quant/quantize.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

std::vector<float> fixed(const std::vector<float>& x, FixedPoint f, Rounding r = Rounding::Nearest,
                         Tensor* mask = nullptr, QuantStats* stats = nullptr) {
  QuantizeOptions o{.stats = stats, .mask = mask};
  return quantize(T(x), f, r, o).to_vector();
}

TEST(FixedPoint, NearestTableWl5Fl4) {
  // quantum 1/16, range [-1, 0.9375]; ties to even; clamp after rounding
  std::vector<float> x = {0.0f,   0.03125f, 0.09375f, 0.15625f, -0.03125f, -0.09375f,
                          0.1f,   0.9375f,  0.96875f, 0.95f,    -1.0f,     -1.03125f,
                          -1.04f, 2.0f,     -2.0f,    kInf,     -kInf,     kNaN,
                          -0.6f,  1e30f,    1e-30f,   -1e-30f};
  std::vector<float> want = {0.0f,    0.0f,    0.125f,  0.125f,  -0.0f, -0.125f, 0.125f, 0.9375f,
                             0.9375f, 0.9375f, -1.0f,   -1.0f,   -1.0f, 0.9375f, -1.0f,  0.9375f,
                             -1.0f,   kNaN,    -0.625f, 0.9375f, 0.0f,  -0.0f};
  expect_values(fixed(x, {.wl = 5, .fl = 4}), want, x);
  // the sign of a zero result is kept
  EXPECT_TRUE(std::signbit(fixed({-0.03125f}, {.wl = 5, .fl = 4})[0]));
}

TEST(FixedPoint, SymmetricAndNoClamp) {
  std::vector<float> x = {-1.0f, -2.0f, 0.96875f, 1.03f, -1.5f, kInf};
  expect_values(fixed(x, {.wl = 5, .fl = 4, .symmetric = true}),
                {-0.9375f, -0.9375f, 0.9375f, 0.9375f, -0.9375f, 0.9375f});
  expect_values(fixed(x, {.wl = 5, .fl = 4, .clamp = false}),
                {-1.0f, -2.0f, 1.0f, 1.0f, -1.5f, kInf});
}

TEST(FixedPoint, NegativeFractionBitsAndWideWords) {
  // fl = -2: quantum 4, range [-2^(wl+1), 2^(wl+1) - 4]
  expect_values(fixed({5.0f, 6.0f, 10.0f, 100.0f, -200.0f}, {.wl = 6, .fl = -2}),
                {4.0f, 8.0f, 8.0f, 100.0f, -128.0f});
  // wl = 32, fl = 0: t_max = 2^31 - 1 is not a float32; the clamp uses the largest float below
  auto y = fixed({3e9f, -3e9f, 123456789.0f}, {.wl = 32, .fl = 0});
  EXPECT_EQ(y[0], 2147483520.0f);
  EXPECT_EQ(y[1], -2147483648.0f);
  EXPECT_EQ(y[2], 123456792.0f);  // 123456789 is not a float32; its float is an integer
  // fl = 149: the quantum is the smallest subnormal
  EXPECT_EQ(fixed({1e-45f}, {.wl = 20, .fl = 149})[0], float_of(1u));
}

TEST(FixedPoint, ClampMaskAndStats) {
  Tensor mask;
  QuantStats stats;
  auto y = fixed({-1.0f, -0.6f, 0.0f, 1.0f}, {.wl = 5, .fl = 4}, Rounding::Nearest, &mask, &stats);
  expect_values(y, {-1.0f, -0.625f, 0.0f, 0.9375f});
  expect_values(mask.to_vector(), {0.0f, 0.0f, 0.0f, 1.0f});
  EXPECT_EQ(stats.clamped, 1);
  EXPECT_EQ(stats.flushed, 0);
  EXPECT_EQ(stats.numel, 4);
  // rounded value strictly outside: -1.03125 rounds to -1 (even) and is not clamped
  fixed({-1.03125f, -1.0625f, 0.01f, kNaN}, {.wl = 5, .fl = 4}, Rounding::Nearest, &mask, &stats);
  expect_values(mask.to_vector(), {0.0f, 1.0f, 0.0f, 0.0f});
  EXPECT_EQ(stats.clamped, 1);
  EXPECT_EQ(stats.flushed, 1);  // 0.01 -> 0
}

TEST(FixedPoint, DirectedModes) {
  std::vector<float> x = {0.1f, -0.1f, 0.125f, 0.03125f, -0.03125f};
  FixedPoint f{.wl = 8, .fl = 4};
  expect_values(fixed(x, f, Rounding::TowardZero), {0.0625f, -0.0625f, 0.125f, 0.0f, -0.0f});
  expect_values(fixed(x, f, Rounding::Up), {0.125f, -0.0625f, 0.125f, 0.0625f, -0.0f});
  expect_values(fixed(x, f, Rounding::Down), {0.0625f, -0.125f, 0.125f, 0.0f, -0.0625f});
  expect_values(fixed(x, f, Rounding::NearestEven), {0.125f, -0.125f, 0.125f, 0.0f, -0.0f});
}

// Reference check: fixed (5,4) on linspace(-2, 2, 100) with and without clamp.
TEST(FixedPoint, ReferenceClampCheck) {
  Tensor x = linspace(-2.0f, 2.0f, 100);
  for (Rounding r : {Rounding::Nearest, Rounding::Stochastic}) {
    auto c = fixed_point_quantize(x, 5, 4, true, false, r).to_vector();
    EXPECT_EQ(*std::max_element(c.begin(), c.end()), 0.9375f);
    EXPECT_EQ(*std::min_element(c.begin(), c.end()), -1.0f);
    auto u = fixed_point_quantize(x, 5, 4, false, false, r).to_vector();
    EXPECT_GT(*std::max_element(u.begin(), u.end()), 0.9375f);
    EXPECT_LT(*std::min_element(u.begin(), u.end()), -1.0f);
  }
}

// Reference check: fixed (wl, wl-1) equals block wl (dim -1) where there are no ties.
TEST(FixedPoint, ReferenceEqualsBlock) {
  for (int wl : {3, 5}) {
    float m = 1.0f - std::ldexp(1.0f, -(wl - 1));
    Tensor x = linspace(-m, m, 1000);
    auto a = fixed_point_quantize(x, wl, wl - 1, true, false, Rounding::Nearest).to_vector();
    auto b = block_quantize(x, wl, -1, Rounding::Nearest).to_vector();
    expect_values(a, b);
  }
}

// Reference check: (8, 8) without clamp is round-half-even of x * 256, over 10^6 normals.
TEST(FixedPoint, ReferenceRoundHalfEven) {
  manual_seed(7);
  Tensor x = randn({1000000});
  auto in = x.to_vector();
  auto y = fixed_point_quantize(x, 8, 8, false, false, Rounding::Nearest).to_vector();
  std::vector<float> want(in.size());
  for (size_t i = 0; i < in.size(); ++i)
    want[i] = static_cast<float>(rne(static_cast<double>(in[i]) * 256.0) / 256.0);
  expect_values(y, want, in);
  // exact ties do occur in that check's spirit: k + 0.5 quanta go to the even neighbour
  expect_values(fixed({0.5f / 256, 1.5f / 256, 2.5f / 256}, {.wl = 8, .fl = 8, .clamp = false}),
                {0.0f, 2.0f / 256, 2.0f / 256});
}

// Every element against an independent double reference, for every mode, over wide inputs.
TEST(FixedPoint, WideSampleAgainstScalarReference) {
  auto x = wide_sample(65537);
  for (FixedPoint f : {FixedPoint{.wl = 8, .fl = 4}, FixedPoint{.wl = 16, .fl = 140},
                       FixedPoint{.wl = 12, .fl = -20, .symmetric = true}}) {
    double s = std::ldexp(1.0, -f.fl);
    double hi = (std::ldexp(1.0, f.wl - 1) - 1) * s,
           lo = f.symmetric ? -hi : -std::ldexp(1.0, f.wl - 1) * s;
    auto check = [&](Rounding r, auto&& round) {
      auto y = quantize(T(x), f, r).to_vector();
      std::vector<float> want(x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        if (std::isnan(x[i])) {
          want[i] = x[i];
          continue;
        }
        double v = std::isinf(x[i]) ? x[i] : round(static_cast<double>(x[i]) / s) * s;
        want[i] = static_cast<float>(std::clamp(v, lo, hi));
      }
      expect_values(y, want, x);
    };
    check(Rounding::Nearest, [](double v) { return std::nearbyint(v); });
    check(Rounding::TowardZero, [](double v) { return std::trunc(v); });
    check(Rounding::Up, [](double v) { return std::ceil(v); });
    check(Rounding::Down, [](double v) { return std::floor(v); });
  }
}

}  // namespace
}  // namespace qtorch::quant::test
