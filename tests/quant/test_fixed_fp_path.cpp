// quantize_fixed_fp<K> (the GPU's floating-point path for fixed point, quant/rounding_core.h)
// against the integer core quantize_fixed<K>: identical bits and clamp flags for every
// float32 bit pattern in a stride over all 2^32 (every one with QTORCH_EXHAUSTIVE=1), for
// every mode that has the path, quanta 2^0 to 2^-126, with and without clamping.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "qtorch/quant/quantize.h"
#include "qtorch/quant/rounding_core.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

template <RoundKind K>
int64_t mismatches(const QuantParams& p, uint64_t stride, const std::string& what) {
  return path_mismatches(
      stride, what, [&](float x, uint32_t, uint32_t& c) { return quantize_fixed<K>(x, p, 0u, c); },
      [&](float x, uint32_t, uint32_t& c) { return quantize_fixed_fp<K>(x, p, c); });
}

TEST(FixedFpPath, SameBitsAsTheIntegerCore) {
  // An odd stride visits every exponent and many mantissas; edge_patterns() adds the ties
  // and grid edges a stride misses.
  const uint64_t stride = 4099;
  const FixedPoint formats[] = {{.wl = 8, .fl = 6}, {.wl = 8, .fl = 0}, {.wl = 16, .fl = 13, .clamp = false},
                                {.wl = 24, .fl = 126}, {.wl = 5, .fl = 4, .symmetric = true}, {.wl = 40, .fl = 20}};
  for (const FixedPoint& f : formats) {
    const QuantParams p = make_quant_params(f, Rounding::Nearest, {1});
    ASSERT_TRUE(fixed_fp_applies(p)) << to_string(Number{f});
    EXPECT_EQ(mismatches<RoundKind::NearestEven>(p, stride, to_string(Number{f})), 0);
    EXPECT_EQ(mismatches<RoundKind::NearestAway>(p, stride, to_string(Number{f})), 0);
    EXPECT_EQ(mismatches<RoundKind::TowardZero>(p, stride, to_string(Number{f})), 0);
    EXPECT_EQ(mismatches<RoundKind::Up>(p, stride, to_string(Number{f})), 0);
    EXPECT_EQ(mismatches<RoundKind::Down>(p, stride, to_string(Number{f})), 0);
  }
}

TEST(FixedFpPath, TiesGridEdgesAndSpecialValues) {
  const QuantParams p = make_quant_params(FixedPoint{.wl = 8, .fl = 6, .clamp = false}, Rounding::Nearest, {1});
  const float values[] = {0.0f, -0.0f, 1.0f / 128, -1.0f / 128, 3.0f / 128, -3.0f / 128, 1e-45f, -1e-45f,
                          1.17549435e-38f, 131072.0f, 131071.99f, 8388608.0f, -8388607.5f, 3.4e38f,
                          -3.4e38f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                          std::nanf(""), -std::nanf("")};
  for (float x : values) {
    uint32_t c1 = 0, c2 = 0;
    EXPECT_EQ(float_bits(quantize_fixed<RoundKind::NearestEven>(x, p, 0u, c1)),
              float_bits(quantize_fixed_fp<RoundKind::NearestEven>(x, p, c2)))
        << x;
    EXPECT_EQ(float_bits(quantize_fixed<RoundKind::Up>(x, p, 0u, c1)), float_bits(quantize_fixed_fp<RoundKind::Up>(x, p, c2)))
        << x;
    EXPECT_EQ(float_bits(quantize_fixed<RoundKind::Down>(x, p, 0u, c1)),
              float_bits(quantize_fixed_fp<RoundKind::Down>(x, p, c2)))
        << x;
  }
  // Outside -126 <= q <= 0 the path does not apply (2^-q would not be a float32, or
  // scaling down could round).
  EXPECT_FALSE(fixed_fp_applies(make_quant_params(FixedPoint{.wl = 8, .fl = -1}, Rounding::Nearest, {1})));
  EXPECT_FALSE(fixed_fp_applies(make_quant_params(FixedPoint{.wl = 30, .fl = 127}, Rounding::Nearest, {1})));
}

}  // namespace
}  // namespace qtorch::quant::test
