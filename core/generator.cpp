// The process-wide generator, and the thread's own one in its place under a GeneratorGuard.
#include "qtorch/core/generator.h"

namespace qtorch {

namespace {

Generator& process_generator() {
  static Generator generator(0);
  return generator;
}

thread_local Generator* thread_generator = nullptr;

}  // namespace

Generator& default_generator() { return thread_generator ? *thread_generator : process_generator(); }

void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

GeneratorGuard::GeneratorGuard(Generator& generator) : previous_(thread_generator) { thread_generator = &generator; }

GeneratorGuard::~GeneratorGuard() { thread_generator = previous_; }

}  // namespace qtorch
