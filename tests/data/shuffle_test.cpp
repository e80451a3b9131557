// Philox-driven permutations: valid, reproducible, uniform, and equal to a reference
// Fisher-Yates written here from the spec (Philox4x32-10 words, Lemire's bounded ints).
#include "qtorch/data/shuffle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>

#include <cmath>  // core/philox.h uses sqrtf/logf/cosf without including it

#include "qtorch/core/philox.h"

namespace qtorch::data {
namespace {

// Reference: words in counter order (block b, stream s -> counter (b lo, b hi, s lo, s hi)),
// bounded integers by multiply-shift with rejection of low words below 2^32 mod bound.
std::vector<int64_t> reference_permutation(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<uint32_t> words;
  uint64_t block = 0;
  size_t used = 0;
  auto next = [&]() -> uint32_t {
    if (used == words.size()) {
      PhiloxBlock b = philox4x32_10(uint32_t(block), uint32_t(block >> 32), uint32_t(stream),
                                    uint32_t(stream >> 32), uint32_t(seed), uint32_t(seed >> 32));
      ++block;
      words.assign(b.w, b.w + 4);
      used = 0;
    }
    return words[used++];
  };
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) {
    uint64_t bound = uint64_t(i) + 1;
    uint64_t threshold = (uint64_t{1} << 32) % bound;
    uint64_t m;
    do {
      m = uint64_t(next()) * bound;
    } while ((m & 0xffffffffu) < threshold);
    std::swap(p[i], p[m >> 32]);
  }
  return p;
}

TEST(Shuffle, IsAPermutation) {
  for (int64_t n : {0, 1, 2, 7, 1000}) {
    std::vector<int64_t> p = random_permutation(n, 42, 0);
    ASSERT_EQ((int64_t)p.size(), n);
    std::vector<int64_t> sorted = p;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(sorted[i], i);
  }
}

TEST(Shuffle, MatchesReference) {
  for (uint64_t seed : {0ull, 1ull, 0x123456789abcdefull})
    for (uint64_t stream : {0ull, 3ull, 1ull << 40})
      EXPECT_EQ(random_permutation(257, seed, stream), reference_permutation(257, seed, stream));
}

TEST(Shuffle, ReproducibleAndSeedDependent) {
  EXPECT_EQ(random_permutation(100, 7, 2), random_permutation(100, 7, 2));
  EXPECT_NE(random_permutation(100, 7, 2), random_permutation(100, 8, 2));
  EXPECT_NE(random_permutation(100, 7, 2), random_permutation(100, 7, 3));
}

TEST(Shuffle, UniformOverAllOrders) {
  // 4! = 24 orders, 24000 draws: each order expected 1000 times; a chi-square statistic
  // with 23 degrees of freedom exceeds 60 with probability below 1e-4.
  std::map<std::vector<int64_t>, int> counts;
  const int draws = 24000;
  for (int s = 0; s < draws; ++s) counts[random_permutation(4, 99, s)]++;
  EXPECT_EQ(counts.size(), 24u);
  double chi2 = 0;
  for (auto& [perm, c] : counts) chi2 += (c - 1000.0) * (c - 1000.0) / 1000.0;
  EXPECT_LT(chi2, 60.0);
}

TEST(Shuffle, BelowIsInRangeAndUnbiased) {
  PhiloxStream rng(5, 0);
  // bound 3 does not divide 2^32: rejection must keep the three values equally likely.
  int counts[3] = {};
  for (int i = 0; i < 30000; ++i) {
    uint32_t v = rng.below(3);
    ASSERT_LT(v, 3u);
    counts[v]++;
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
  EXPECT_EQ(rng.below(1), 0u);
  EXPECT_ANY_THROW(rng.below(0));
}

}  // namespace
}  // namespace qtorch::data
