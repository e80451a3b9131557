// quantize_float_split<K> (the GPU's branchy floating-point rounding, quant/rounding_core.h)
// against quantize_float<K>: identical bits and clamp flags for every float32 bit pattern
// in a stride over all 2^32 (every one with QTORCH_EXHAUSTIVE=1), for every rounding mode
// (stochastic with random words that vary per input), over formats that cover every range
// rule, with and without subnormals and saturation, man from 0 to 23 and extended exponents.
#include <gtest/gtest.h>

#include <cstdlib>
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
      stride, what, [&](float x, uint32_t rnd, uint32_t& c) { return quantize_float<K>(x, p, rnd, c); },
      [&](float x, uint32_t rnd, uint32_t& c) { return quantize_float_split<K>(x, p, rnd, c); });
}

TEST(FloatSplitPath, SameBitsAsQuantizeFloat) {
  const uint64_t stride = 8191;
  const FloatingPoint formats[] = {
      {.exp = 5, .man = 2},
      {.exp = 4, .man = 3, .range = FloatRange::FiniteNaN, .saturate = false},
      {.exp = 5, .man = 2, .range = FloatRange::IEEE, .saturate = false},
      {.exp = 4, .man = 3, .range = FloatRange::IEEE, .subnormals = false},
      {.exp = 8, .man = 7},
      {.exp = 8, .man = 23, .range = FloatRange::IEEE},
      {.exp = 8, .man = 0},
      {.exp = 3, .man = 0, .subnormals = false},
      {.exp = 2, .man = 1},
      {.exp = 6, .man = 9, .bias = 40},
  };
  for (const FloatingPoint& f : formats) {
    const QuantParams p = make_quant_params(f, Rounding::Nearest, {1});
    const std::string what = to_string(Number{f});
    EXPECT_EQ(mismatches<RoundKind::Stochastic>(p, stride, what), 0) << what;
    EXPECT_EQ(mismatches<RoundKind::NearestAway>(p, stride, what), 0) << what;
    EXPECT_EQ(mismatches<RoundKind::NearestEven>(p, stride, what), 0) << what;
    EXPECT_EQ(mismatches<RoundKind::NearestUp>(p, stride, what), 0) << what;
    EXPECT_EQ(mismatches<RoundKind::TowardZero>(p, stride, what), 0) << what;
    EXPECT_EQ(mismatches<RoundKind::Up>(p, stride, what), 0) << what;
    EXPECT_EQ(mismatches<RoundKind::Down>(p, stride, what), 0) << what;
  }
}

}  // namespace
}  // namespace qtorch::quant::test
