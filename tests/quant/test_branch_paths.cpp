// The rounding core's two forms, branch-free (the CPU's) and branching (the GPU's,
// round_to_quantum<K, true> in quant/rounding_core.h): identical bits and clamp flags for
// fixed point, block floating point and MX elements, every rounding mode (stochastic with a random word
// per input), for every float32 bit pattern in a stride over all 2^32 (every one with
// QTORCH_EXHAUSTIVE=1) plus the ties and grid edges of edge_patterns().
#include <gtest/gtest.h>

#include <cstdlib>
#include <limits>
#include <type_traits>
#include <string>
#include <vector>

#include "qtorch/quant/quantize.h"
#include "qtorch/quant/microscaling_core.h"
#include "qtorch/quant/rounding_core.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

constexpr uint64_t kStride = 16381;

template <RoundKind K>
void check_kind(const char* kind) {
  const FixedPoint fixed[] = {{.wl = 8, .fl = 6}, {.wl = 8, .fl = -3}, {.wl = 16, .fl = 149, .clamp = false},
                              {.wl = 4, .fl = 2, .symmetric = true}, {.wl = 30, .fl = -90}};
  for (const FixedPoint& f : fixed) {
    const QuantParams p = make_quant_params(f, Rounding::Nearest, {1});
    const std::string what = std::string(kind) + " " + to_string(Number{f});
    EXPECT_EQ(path_mismatches(
                  kStride, what, [&](float x, uint32_t rnd, uint32_t& c) { return quantize_fixed<K, false>(x, p, rnd, c); },
                  [&](float x, uint32_t rnd, uint32_t& c) { return quantize_fixed<K, true>(x, p, rnd, c); }),
              0);
  }
  // Block scales from maxima across float32's range, subnormal and zero maxima, NaN/inf.
  const float maxima[] = {1.0f, 3.0e38f, 1e-40f, 0.0f, 0.75f, 6.0e-30f, std::numeric_limits<float>::infinity()};
  for (int wl : {2, 4, 8, 24})
    for (float max : maxima) {
      const BlockScale s = block_scale(float_bits(max) & kAbsMask, wl);
      const std::string what = std::string(kind) + " block wl " + std::to_string(wl) + " max " + std::to_string(max);
      EXPECT_EQ(path_mismatches(
                    kStride, what, [&](float x, uint32_t rnd, uint32_t& c) { return quantize_block<K, false>(x, s, rnd, c); },
                    [&](float x, uint32_t rnd, uint32_t& c) { return quantize_block<K, true>(x, s, rnd, c); }),
                0);
    }
}

template <RoundKind K>
void check_mx(const char* kind) {
  // MX element grids (fp8 e4m3, fp6 e2m3, fp4 e2m1, int8) under block maxima from tiny to huge.
  const MXFormat formats[] = {formats::mxfp8(), formats::mxfp6(), formats::mxfp4(), formats::mxint8()};
  const float maxima[] = {1.0f, 3.0e38f, 1e-40f, 0.0f, 448.0f, 5.0e-39f, std::numeric_limits<float>::infinity()};
  for (const MXFormat& f : formats) {
    const QuantParams p = make_quant_params(f, Rounding::Nearest, {32});
    for (float max : maxima) {
      const MXScale s = mx_scale(float_bits(max) & kAbsMask, p.element);
      const std::string what = std::string(kind) + " " + to_string(Number{f}) + " max " + std::to_string(max);
      EXPECT_EQ(path_mismatches(
                    kStride, what, [&](float x, uint32_t rnd, uint32_t& c) { return quantize_mx<K, false>(x, s, rnd, c); },
                    [&](float x, uint32_t rnd, uint32_t& c) { return quantize_mx<K, true>(x, s, rnd, c); }),
                0);
    }
  }
}

TEST(BranchPaths, MXElementsSameBitsInBothForms) {
  check_mx<RoundKind::Stochastic>("stochastic");
  check_mx<RoundKind::NearestAway>("nearest away");
  check_mx<RoundKind::NearestEven>("nearest even");
  check_mx<RoundKind::TowardZero>("toward zero");
  check_mx<RoundKind::Up>("up");
  check_mx<RoundKind::Down>("down");
}

TEST(BranchPaths, SameBitsAsTheBranchFreeCore) {
  check_kind<RoundKind::Stochastic>("stochastic");
  check_kind<RoundKind::NearestAway>("nearest away");
  check_kind<RoundKind::NearestEven>("nearest even");
  check_kind<RoundKind::NearestUp>("nearest up");
  check_kind<RoundKind::TowardZero>("toward zero");
  check_kind<RoundKind::Up>("up");
  check_kind<RoundKind::Down>("down");
}

}  // namespace
}  // namespace qtorch::quant::test
