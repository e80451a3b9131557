// Floating point with the reference semantics: exact tables from docs/numerics.md and the
// reference library's representable-set checks.
#include <set>

#include "qtorch/core/tensor.h"
#include "qtorch/quant/quantize.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

std::vector<float> flt(const std::vector<float>& x, FloatingPoint f, Rounding r = Rounding::Nearest,
                       QuantStats* stats = nullptr, Tensor* mask = nullptr) {
  return quantize(T(x), f, r, {.stats = stats, .mask = mask}).to_vector();
}

TEST(FloatPoint, LargestValues) {
  EXPECT_EQ(flt({1e9f}, {.exp = 5, .man = 2})[0], 114688.0f);
  EXPECT_EQ(flt({1e9f}, {.exp = 4, .man = 3})[0], 480.0f);
  EXPECT_EQ(flt({1e9f}, {.exp = 5, .man = 10})[0], 131008.0f);
  EXPECT_EQ((FloatingPoint{.exp = 5, .man = 2}.max_value()), 114688.0f);
}

TEST(FloatPoint, NearestTableExp5Man2) {
  // binade [1, 2) has spacing 0.25; ties go away from zero; a carry moves to the next binade
  std::vector<float> x = {1.0f,     1.125f,   -1.125f,   1.375f, 1.1f,  1.875f, -1.875f, 3.3f,
                          120000.f, 123000.f, -123000.f, kInf,   -kInf, kNaN,   0.0f,    -0.0f};
  std::vector<float> want = {1.0f,      1.25f, -1.25f,   1.5f,     1.0f,      2.0f,
                             -2.0f,     3.5f,  114688.f, 114688.f, -114688.f, 114688.f,
                             -114688.f, kNaN,  0.0f,     -0.0f};
  expect_values(flt(x, {.exp = 5, .man = 2}), want, x);
  auto z = flt({-0.0f, -1e-30f}, {.exp = 5, .man = 2});
  EXPECT_TRUE(std::signbit(z[0]));
  EXPECT_TRUE(std::signbit(z[1]));  // the sign of zero is kept
}

TEST(FloatPoint, Subnormals) {
  // exp 5: emin = -14, subnormal spacing 2^(emin - man) = 2^-16 for man 2
  const float s = std::ldexp(1.0f, -16);
  std::vector<float> x = {s,        0.5f * s, 0.49f * s, 1.5f * s,
                          2.5f * s, 3.5f * s, -0.5f * s, std::ldexp(1.0f, -14),
                          4.5f * s, 1e-40f};
  std::vector<float> want = {s,  s,     0.0f,  2 * s, 3 * s, 4 * s,
                             -s, 4 * s, 5 * s, 0.0f};  // 4.5 s = 2^-14 * 1.125: spacing 2^-16 there
  expect_values(flt(x, {.exp = 5, .man = 2}), want, x);
  QuantStats st;
  flt(x, {.exp = 5, .man = 2}, Rounding::Nearest, &st);
  EXPECT_EQ(st.flushed, 2);  // 0.49 s and the float32 subnormal 1e-40
}

TEST(FloatPoint, SaturationMaskAndStats) {
  QuantStats st;
  Tensor mask;
  auto y =
      flt({500.0f, -1e6f, kInf, 3.0f, kNaN}, {.exp = 4, .man = 3}, Rounding::Nearest, &st, &mask);
  expect_values(y, {480.0f, -480.0f, 480.0f, 3.0f, kNaN});
  expect_values(mask.to_vector(), {1.0f, 1.0f, 1.0f, 0.0f, 0.0f});
  EXPECT_EQ(st.clamped, 3);
}

TEST(FloatPoint, Exp8KeepsFloat32Behaviour) {
  const float big = std::numeric_limits<float>::max();
  // man = 23 with exp = 8 is the identity (NaN stays NaN)
  auto x = wide_sample(8191);
  auto y = flt(x, {.exp = 8, .man = 23});
  for (size_t i = 0; i < x.size(); ++i) ASSERT_TRUE(same(x[i], y[i]) || std::isnan(x[i])) << x[i];
  // past the float32 range inf stays inf; rounding FLT_MAX up overflows like float32
  expect_values(flt({big, kInf, -kInf}, {.exp = 8, .man = 10}), {kInf, kInf, -kInf});
  auto sr = flt({big, -big}, {.exp = 8, .man = 10}, Rounding::Stochastic);
  for (float v : sr) EXPECT_TRUE(std::isinf(v) || std::fabs(v) <= big);
}

// Reference check: sweeping -30..30 by 0.01 gives exactly the representable sets.
TEST(FloatPoint, ReferenceRepresentableSets) {
  struct Case {
    int exp, man;
    size_t count;
    float max;
  };
  for (Case c : {Case{2, 2, 31, 7.0f}, Case{2, 3, 63, 7.5f}, Case{3, 2, 63, 28.0f}}) {
    std::vector<float> x;
    for (int i = -3000; i <= 3000; ++i) x.push_back(static_cast<float>(i) * 0.01f);
    auto y = flt(x, {.exp = c.exp, .man = c.man});
    std::set<float> values(y.begin(), y.end());
    EXPECT_EQ(values.size(), c.count) << c.exp << "," << c.man;
    EXPECT_EQ(*values.rbegin(), c.max);
    EXPECT_EQ(*values.begin(), -c.max);
  }
}

TEST(FloatPoint, DirectedModesAndNearestEven) {
  std::vector<float> x = {1.1f, -1.1f, 1.125f, 1.375f, -1.125f};
  FloatingPoint f{.exp = 5, .man = 2};
  expect_values(flt(x, f, Rounding::NearestEven), {1.0f, -1.0f, 1.0f, 1.5f, -1.0f});
  expect_values(flt(x, f, Rounding::TowardZero), {1.0f, -1.0f, 1.0f, 1.25f, -1.0f});
  expect_values(flt(x, f, Rounding::Up), {1.25f, -1.0f, 1.25f, 1.5f, -1.0f});
  expect_values(flt(x, f, Rounding::Down), {1.0f, -1.25f, 1.0f, 1.25f, -1.25f});
}

// Every element against the independent double reference (ties to even; reference range).
TEST(FloatPoint, WideSampleAgainstScalarReference) {
  auto x = wide_sample(16411);
  for (auto [e, m] : {std::pair{5, 2}, std::pair{4, 3}, std::pair{6, 5}, std::pair{8, 7}}) {
    FloatingPoint f{.exp = e, .man = m};
    double max = f.max_value();
    auto y = flt(x, f, Rounding::NearestEven);
    std::vector<float> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      want[i] = std::isinf(x[i]) ? std::copysign(static_cast<float>(max), x[i])
                                 : ref_float_rne(x[i], f.emin(), m, max, max, true);
    }
    expect_values(y, want, x);
  }
}

}  // namespace
}  // namespace qtorch::quant::test
