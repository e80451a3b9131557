// ReLU's forward on one float (core/relu_math.h), as every device computes it: x where x > 0
// or x is NaN (with its payload and sign), else +0. The rule is checked on bit patterns at
// every boundary and on random ones, against the float comparisons that state it.
#include "qtorch/core/relu_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "qtorch/testing/bits.h"

namespace qtorch {
namespace {

using testing::bits_of;
using testing::float_of;

TEST(ReluMath, KeepsPositivesAndEveryNaNBitForBitAndZeroesTheRest) {
  std::vector<uint32_t> patterns;
  for (uint32_t sign : {0u, 0x80000000u})
    for (uint32_t b : {0x00000000u, 0x00000001u, 0x007fffffu, 0x00800000u, 0x3f800000u, 0x7f7fffffu, 0x7f800000u,
                       0x7f800001u, 0x7fc00000u, 0x7fc00001u, 0x7fffffffu})
      patterns.push_back(sign | b);
  std::mt19937 gen(5);
  for (int i = 0; i < 100000; ++i) patterns.push_back(static_cast<uint32_t>(gen()));
  for (uint32_t b : patterns) {
    const float x = float_of(b);
    const uint32_t want = (x > 0.0f || std::isnan(x)) ? b : 0u;  // +0, never -0
    EXPECT_EQ(bits_of(relu_value(x)), want) << std::hex << "x bits 0x" << b;
  }
}

}  // namespace
}  // namespace qtorch
