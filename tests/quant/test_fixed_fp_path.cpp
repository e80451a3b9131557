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
int64_t mismatches(const QuantParams& p, uint64_t stride) {
  int64_t bad = 0;
  static const std::vector<uint32_t> edges = edge_patterns();
  auto check = [&](uint64_t u) {
    const float x = bits_float(static_cast<uint32_t>(u));
    uint32_t c_int = 0, c_fp = 0;
    const float a = quantize_fixed<K>(x, p, 0u, c_int);
    const float b = quantize_fixed_fp<K>(x, p, c_fp);
    if (float_bits(a) != float_bits(b) || c_int != c_fp) {
      if (bad < 3)
        ADD_FAILURE() << "q=" << p.q << " x bits 0x" << std::hex << u << ": integer core 0x" << float_bits(a)
                      << ", fp path 0x" << float_bits(b);
      ++bad;
    }
  };
  for (uint64_t u = 0; u < (uint64_t{1} << 32); u += stride) check(u);
  for (uint32_t u : edges) check(u);
  return bad;
}

TEST(FixedFpPath, SameBitsAsTheIntegerCore) {
  const bool exhaustive = std::getenv("QTORCH_EXHAUSTIVE") != nullptr;
  // An odd stride visits every exponent and many mantissas; near the grid boundaries the
  // explicit values below add what a stride may miss.
  const uint64_t stride = exhaustive ? 1 : 4099;
  const FixedPoint formats[] = {{.wl = 8, .fl = 6}, {.wl = 8, .fl = 0}, {.wl = 16, .fl = 13, .clamp = false},
                                {.wl = 24, .fl = 126}, {.wl = 5, .fl = 4, .symmetric = true}, {.wl = 40, .fl = 20}};
  for (const FixedPoint& f : formats) {
    const QuantParams p = make_quant_params(f, Rounding::Nearest, {1});
    ASSERT_TRUE(fixed_fp_applies(p)) << to_string(Number{f});
    EXPECT_EQ(mismatches<RoundKind::NearestEven>(p, stride), 0) << to_string(Number{f});
    EXPECT_EQ(mismatches<RoundKind::NearestAway>(p, stride), 0) << to_string(Number{f});
    EXPECT_EQ(mismatches<RoundKind::TowardZero>(p, stride), 0) << to_string(Number{f});
    EXPECT_EQ(mismatches<RoundKind::Up>(p, stride), 0) << to_string(Number{f});
    EXPECT_EQ(mismatches<RoundKind::Down>(p, stride), 0) << to_string(Number{f});
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
