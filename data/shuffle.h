// Seeded random permutations that are identical on every platform and compiler:
// Fisher-Yates driven by Philox4x32-10 bits (std::shuffle is implementation-defined).
#pragma once

#include <cstdint>
#include <vector>

namespace qtorch::data {

/// A stream of 32-bit words from Philox4x32-10 keyed by `seed`; `stream` selects one of
/// 2^64 sequences (its counter words 2 and 3), so epochs never share bits. Stream 0 is
/// the global generator's own sequence for the same seed (core/generator.h: counter words
/// 2 and 3 are zero there too): qtrain passes its one seed to both (as does a Trainer whose
/// options.seed is manual_seed's), so epoch 0's order is drawn from the words that
/// initialised the weights. Each order is still a uniform permutation; it is not
/// independent of the initial weights. Kept as it is: a different stream would change the
/// batch order, and so every published run.
class PhiloxStream {
 public:
  PhiloxStream(uint64_t seed, uint64_t stream) : seed_(seed), stream_(stream) {}
  uint32_t next();
  /// Uniform integer in [0, bound) for 0 < bound <= 2^32, unbiased (Lemire's method
  /// with rejection).
  uint32_t below(uint64_t bound);

 private:
  uint64_t seed_, stream_;
  uint64_t block_ = 0;  // next counter block to generate
  uint32_t words_[4] = {};
  int used_ = 4;
};

/// A uniformly random permutation of 0 .. n-1: for i = n-1 down to 1, swap element i with
/// element j = below(i + 1) of PhiloxStream(seed, stream). n < 2^32.
std::vector<int64_t> random_permutation(int64_t n, uint64_t seed, uint64_t stream);

}  // namespace qtorch::data
