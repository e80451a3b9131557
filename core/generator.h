// The global seeded generator: a seed plus an offset that every random call advances,
// so two calls never share a stream and results do not depend on the thread count.
#pragma once

#include <atomic>
#include <cstdint>

namespace qtorch {

/// A (seed, offset) pair handing out disjoint ranges of Philox counter blocks.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  /// Returns the start of a fresh range of `numel` counter blocks and advances past it.
  /// A range of numel blocks covers any kernel that uses at most one block per element.
  uint64_t reserve(uint64_t numel) {
    uint64_t start = offset_;
    offset_ += numel > 0 ? numel : 1;
    return start;
  }

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

/// The process-wide generator used when no other is given.
Generator& default_generator();
/// Sets the global seed and resets the global offset to 0.
void manual_seed(uint64_t seed);

}  // namespace qtorch
