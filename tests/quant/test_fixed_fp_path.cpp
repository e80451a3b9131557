// quantize_fixed_fp<K> (the GPU's floating-point path for fixed point, quant/rounding_core.h)
// against the integer core quantize_fixed<K>: identical bits and clamp flags for every
// float32 bit pattern in a stride over all 2^32 (every one with QTORCH_EXHAUSTIVE=1), for
// every mode that has the path, quanta 2^0 to 2^-126, with and without clamping.
// Stochastic rounding also at the random words around each value's threshold F (the
// integer core rounds up exactly when the word is below F), found by bisection on the core.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "qtorch/quant/quantize.h"
#include "qtorch/quant/rounding_core.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

template <RoundKind K>
int64_t mismatches(const QuantParams& p, uint64_t stride, const std::string& what) {
  return path_mismatches(
      stride, what, [&](float x, uint32_t rnd, uint32_t& c) { return quantize_fixed<K>(x, p, rnd, c); },
      [&](float x, uint32_t rnd, uint32_t& c) { return quantize_fixed_fp<K>(x, p, rnd, c); });
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
    EXPECT_EQ(mismatches<RoundKind::Stochastic>(p, stride, to_string(Number{f})), 0);
  }
}

/// The integer core's threshold for x: the number of random words that round x up, i.e.
/// the first word whose result equals that of the largest word (which never rounds up).
uint64_t stochastic_threshold(float x, const QuantParams& p) {
  uint32_t c = 0;
  const uint32_t down = float_bits(quantize_fixed<RoundKind::Stochastic>(x, p, 0xffffffffu, c));
  uint64_t lo = 0, hi = 0xffffffffull;  // the answer lies in [lo, hi]
  while (lo < hi) {
    const uint64_t mid = (lo + hi) / 2;
    if (float_bits(quantize_fixed<RoundKind::Stochastic>(x, p, static_cast<uint32_t>(mid), c)) == down)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

TEST(FixedFpPath, StochasticAtTheWordsAroundEachThreshold) {
  // Words F - 1 (up), F (down) and F + 1, 0 and 2^32 - 1, where F is the integer core's
  // threshold: the sticky last bit of F decides F - 1 when the dropped fraction's first 32
  // bits are even and more follow, which random words almost never reach.
  const FixedPoint formats[] = {{.wl = 8, .fl = 6}, {.wl = 16, .fl = 13, .clamp = false}, {.wl = 24, .fl = 126}};
  int64_t sticky_cases = 0;
  for (const FixedPoint& f : formats) {
    const QuantParams p = make_quant_params(f, Rounding::Stochastic, {1});
    ASSERT_TRUE(fixed_fp_applies(p));
    int64_t bad = 0;
    for (uint64_t u = 0; u < (uint64_t{1} << 32); u += 65537 * 3) {
      const float x = bits_float(static_cast<uint32_t>(u));
      const uint64_t F = stochastic_threshold(x, p);
      // The sticky bit in play: x's distance below the next multiple is not a whole number of 2^(q - 32).
      if (F % 2 == 1 && std::isfinite(x) && std::fabs(x) < std::ldexp(1.0f, p.q - 8)) ++sticky_cases;
      for (uint64_t w : {F - 1, F, F + 1, uint64_t{0}, uint64_t{0xffffffff}}) {
        if (w > 0xffffffffull) continue;  // F - 1 when F = 0, F + 1 past the last word
        uint32_t c1 = 0, c2 = 0;
        const uint32_t want = float_bits(quantize_fixed<RoundKind::Stochastic>(x, p, static_cast<uint32_t>(w), c1));
        const uint32_t got = float_bits(quantize_fixed_fp<RoundKind::Stochastic>(x, p, static_cast<uint32_t>(w), c2));
        if (want != got || c1 != c2) {
          if (++bad <= 3)
            ADD_FAILURE() << to_string(Number{f}) << ", x bits 0x" << std::hex << u << ", word 0x" << w << ": 0x"
                          << want << " against 0x" << got;
        }
      }
    }
    EXPECT_EQ(bad, 0) << to_string(Number{f});
  }
  EXPECT_GT(sticky_cases, 1000);  // the sticky bit's cases are among those checked
}

TEST(BlockFpPath, SameBitsAsTheIntegerCore) {
  // quantize_block_fp<K> against quantize_block<K> for block scales whose quantum 2^q spans
  // the path's range (q = 0 and -126 at its ends), over float32 patterns (elements above
  // the block's largest saturate; in a real block they cannot occur), and a block holding
  // NaN (every element NaN).
  int scales = 0;
  for (int wl : {4, 8, 16, 24}) {
    std::vector<BlockScale> blocks;
    for (int E : {wl - 2, wl - 3, 0, 1, -3, -40, wl - 128, wl - 129})
      blocks.push_back(block_scale(float_bits(std::ldexp(1.5f, E)), wl));
    BlockScale nan_block = block_scale(float_bits(1.0f), wl);
    nan_block.nan = true;
    blocks.push_back(nan_block);
    for (const BlockScale& b : blocks) {
      if (!block_fp_applies(b)) continue;  // q > 0 (E = wl - 1 and above) or q < -126
      ++scales;
      const std::string what = "wl " + std::to_string(wl) + ", q " + std::to_string(b.q) + (b.nan ? ", NaN block" : "");
      const auto both = [&](auto kind) {
        constexpr RoundKind K = decltype(kind)::value;
        return path_mismatches(
            4099, what + " " + std::to_string(static_cast<int>(K)),
            [&](float x, uint32_t rnd, uint32_t& c) { return quantize_block<K>(x, b, rnd, c); },
            [&](float x, uint32_t rnd, uint32_t& c) { return quantize_block_fp<K>(x, b, rnd, c); });
      };
      EXPECT_EQ(both(std::integral_constant<RoundKind, RoundKind::NearestEven>{}), 0);
      EXPECT_EQ(both(std::integral_constant<RoundKind, RoundKind::NearestAway>{}), 0);
      EXPECT_EQ(both(std::integral_constant<RoundKind, RoundKind::TowardZero>{}), 0);
      EXPECT_EQ(both(std::integral_constant<RoundKind, RoundKind::Up>{}), 0);
      EXPECT_EQ(both(std::integral_constant<RoundKind, RoundKind::Down>{}), 0);
      EXPECT_EQ(both(std::integral_constant<RoundKind, RoundKind::Stochastic>{}), 0);
    }
  }
  EXPECT_GE(scales, 4 * 6);  // q = 0 and -126 and the scales between, for every word length
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
              float_bits(quantize_fixed_fp<RoundKind::NearestEven>(x, p, 0u, c2)))
        << x;
    EXPECT_EQ(float_bits(quantize_fixed<RoundKind::Up>(x, p, 0u, c1)),
              float_bits(quantize_fixed_fp<RoundKind::Up>(x, p, 0u, c2)))
        << x;
    EXPECT_EQ(float_bits(quantize_fixed<RoundKind::Down>(x, p, 0u, c1)),
              float_bits(quantize_fixed_fp<RoundKind::Down>(x, p, 0u, c2)))
        << x;
    for (uint32_t w : {0u, 0x80000000u, 0xffffffffu})
      EXPECT_EQ(float_bits(quantize_fixed<RoundKind::Stochastic>(x, p, w, c1)),
                float_bits(quantize_fixed_fp<RoundKind::Stochastic>(x, p, w, c2)))
          << x << " word " << w;
  }
  // Outside -126 <= q <= 0 the path does not apply (2^-q would not be a float32, or
  // scaling down could round).
  EXPECT_FALSE(fixed_fp_applies(make_quant_params(FixedPoint{.wl = 8, .fl = -1}, Rounding::Nearest, {1})));
  EXPECT_FALSE(fixed_fp_applies(make_quant_params(FixedPoint{.wl = 30, .fl = 127}, Rounding::Nearest, {1})));
}

}  // namespace
}  // namespace qtorch::quant::test
