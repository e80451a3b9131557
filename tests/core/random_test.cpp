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

TEST(Philox, WordCacheGivesTheStreamsWords) {
  // PhiloxWordCache keeps its last block: in order, repeated, backwards, across blocks and
  // across two streams read in turn (qmatmul's chains read the rows of two roundings so), it
  // gives philox_bits' words. The words themselves come from the known-answer block above.
  PhiloxWordCache cache;
  EXPECT_EQ(cache.bits(0, 0, 0), 0x6627e8d5u);
  EXPECT_EQ(cache.bits(0, 0, 3), 0x9b00dbd8u);
  EXPECT_EQ(cache.bits(0, 0, 1), 0xe169c58du);
  const uint64_t seed = 0x123456789abcdefULL, offset = 77;
  const uint64_t reads[] = {0, 1, 2, 3, 4, 4, 3, 9, 8, 100, 40, 101, 41, 102, 42, 103, 43, 104, 44, 7, 6, 5};
  for (uint64_t i : reads) EXPECT_EQ(cache.bits(seed, offset, i), philox_bits(seed, offset, i)) << "word " << i;
  // The block is the counter offset + i / 4: another offset that names the same counter
  // reads the same block, and the next counter a new one.
  PhiloxWordCache other;
  EXPECT_EQ(other.bits(seed, offset, 8), philox_bits(seed, offset, 8));
  EXPECT_EQ(other.bits(seed, offset + 1, 4), philox_bits(seed, offset, 8));
  EXPECT_EQ(other.bits(seed, offset + 1, 8), philox_bits(seed, offset, 12));
  EXPECT_NE(other.bits(seed, offset + 1, 8), other.bits(seed, offset + 1, 4));
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
