// Philox-driven Fisher-Yates shuffling.
#include "qtorch/data/shuffle.h"

#include <numeric>
#include <utility>

#include "qtorch/core/error.h"
#include "qtorch/core/philox.h"

namespace qtorch::data {

uint32_t PhiloxStream::next() {
  if (used_ == 4) {
    PhiloxBlock b = philox4x32_10(static_cast<uint32_t>(block_), static_cast<uint32_t>(block_ >> 32),
                                  static_cast<uint32_t>(stream_), static_cast<uint32_t>(stream_ >> 32),
                                  static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32));
    for (int i = 0; i < 4; ++i) words_[i] = b.w[i];
    ++block_;
    used_ = 0;
  }
  return words_[used_++];
}

uint32_t PhiloxStream::below(uint64_t bound) {
  QTORCH_CHECK(bound >= 1 && bound <= (uint64_t{1} << 32),
               "PhiloxStream::below: expected a bound in [1, 2^32], got {}", bound);
  uint64_t m = uint64_t{next()} * bound;
  uint32_t low = static_cast<uint32_t>(m);
  if (low < bound) {
    // Rejecting the first (2^32 mod bound) low words makes every result equally likely.
    uint32_t threshold = static_cast<uint32_t>((uint64_t{1} << 32) % bound);
    while (low < threshold) {
      m = uint64_t{next()} * bound;
      low = static_cast<uint32_t>(m);
    }
  }
  return static_cast<uint32_t>(m >> 32);
}

std::vector<int64_t> random_permutation(int64_t n, uint64_t seed, uint64_t stream) {
  QTORCH_CHECK(n >= 0 && n < (int64_t{1} << 32),
               "random_permutation: expected 0 <= n < 2^32, got {}", n);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  PhiloxStream rng(seed, stream);
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = rng.below(static_cast<uint64_t>(i) + 1);
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
  }
  return perm;
}

}  // namespace qtorch::data
