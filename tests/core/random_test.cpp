// The counter-based generator: known Philox answers, seeding, thread independence.
#include <gtest/gtest.h>

#include <cmath>

#include "qtorch/core/philox.h"
#include "qtorch/qtorch.h"

using namespace qtorch;

TEST(Philox, KnownAnswerVectors) {
  // Random123's published known-answer tests for philox4x32_10.
  PhiloxBlock zero = philox4x32_10(0, 0, 0, 0, 0, 0);
  EXPECT_EQ(zero.w[0], 0x6627e8d5u);
  EXPECT_EQ(zero.w[1], 0xe169c58du);
  EXPECT_EQ(zero.w[2], 0xbc57ac4cu);
  EXPECT_EQ(zero.w[3], 0x9b00dbd8u);
  PhiloxBlock ones = philox4x32_10(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu);
  EXPECT_EQ(ones.w[0], 0x408f276du);
  EXPECT_EQ(ones.w[1], 0x41c83b0eu);
  EXPECT_EQ(ones.w[2], 0xa20bc7c6u);
  EXPECT_EQ(ones.w[3], 0x6d5451fdu);
}

TEST(Random, SameSeedSameNumbersFreshBitsEachCall) {
  manual_seed(42);
  std::vector<float> a = rand({1000}).to_vector(), b = rand({1000}).to_vector();
  manual_seed(42);
  EXPECT_EQ(rand({1000}).to_vector(), a);
  EXPECT_EQ(rand({1000}).to_vector(), b);
  EXPECT_NE(a, b);
}

TEST(Random, IndependentOfThreadCount) {
  set_num_threads(1);
  manual_seed(9);
  std::vector<float> u1 = rand({200000}).to_vector(), n1 = randn({200000}).to_vector();
  set_num_threads(2);
  manual_seed(9);
  EXPECT_EQ(rand({200000}).to_vector(), u1);
  EXPECT_EQ(randn({200000}).to_vector(), n1);
}

TEST(Random, Moments) {
  manual_seed(1);
  Tensor u = rand({100000}), n = randn({100000});
  EXPECT_NEAR(mean(u).item(), 0.5f, 0.01f);
  EXPECT_NEAR(mean(n).item(), 0.0f, 0.02f);
  EXPECT_NEAR(mean(n * n).item(), 1.0f, 0.02f);
  EXPECT_GE(-max(-u).item(), 0.0f);
  EXPECT_LT(max(u).item(), 1.0f);
}
