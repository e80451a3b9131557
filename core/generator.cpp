// The global generator.
#include "qtorch/core/generator.h"

namespace qtorch {

Generator& default_generator() {
  static Generator generator(0);
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

}  // namespace qtorch
