// The seeded generator random calls draw from: a seed plus an offset that every random
// call advances, so two calls never share a stream and results do not depend on the
// thread count. One process-wide, unless a thread puts its own in place (GeneratorGuard).
#pragma once

#include <atomic>
#include <cstdint>

namespace qtorch {

/// A (seed, offset) pair handing out disjoint ranges of Philox counter blocks.
/// Thread-safe: reserve() is one atomic add, so random calls from several user threads get
/// disjoint ranges (which thread gets which depends on timing: results are reproducible
/// only when one thread draws, or each thread has its own Generator). set_state must not
/// race with reserve.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  Generator(const Generator& other) : seed_(other.seed()), offset_(other.offset()) {}
  Generator& operator=(const Generator& other) {
    set_state(other.seed(), other.offset());
    return *this;
  }
  uint64_t seed() const { return seed_.load(std::memory_order_relaxed); }
  uint64_t offset() const { return offset_.load(std::memory_order_relaxed); }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_.store(seed, std::memory_order_relaxed);
    offset_.store(offset, std::memory_order_relaxed);
  }
  /// Returns the start of a fresh range of `numel` counter blocks and advances past it.
  /// A range of numel blocks covers any kernel that uses at most one block per element.
  uint64_t reserve(uint64_t numel) {
    return offset_.fetch_add(numel > 0 ? numel : 1, std::memory_order_relaxed);
  }

 private:
  std::atomic<uint64_t> seed_{0};
  std::atomic<uint64_t> offset_{0};
};

/// The generator random calls use when none is given: the calling thread's, which is the
/// process-wide one unless a GeneratorGuard on this thread has put another in its place.
Generator& default_generator();
/// Sets default_generator()'s seed and resets its offset to 0.
void manual_seed(uint64_t seed);

/// Makes `generator` the calling thread's default_generator() while the guard lives (guards
/// nest; other threads keep theirs). Everything that draws from the default generator on
/// this thread (initialisation, rand/randn, dropout, stochastic rounding, recipes, a
/// Trainer, checkpoints' saved and restored generator state) then uses `generator`: two
/// trainings in two threads, each under a guard with its own seeded Generator, give the bits
/// each gives alone. `generator` must outlive the guard; destroy guards on the thread that
/// made them, in reverse order. Kernels' OpenMP workers receive their random ranges from
/// the calling thread, so they need no guard.
class GeneratorGuard {
 public:
  explicit GeneratorGuard(Generator& generator);
  ~GeneratorGuard();
  GeneratorGuard(const GeneratorGuard&) = delete;
  GeneratorGuard& operator=(const GeneratorGuard&) = delete;

 private:
  Generator* previous_;
};

}  // namespace qtorch
