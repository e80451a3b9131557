// Float32 bit patterns and their printed form.
#include "qtorch/testing/bits.h"

#include <fmt/format.h>

#include <cstring>

namespace qtorch::testing {

uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

float float_of(uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

std::string describe_float(float x) { return fmt::format("{} (0x{:08x})", x, bits_of(x)); }

}  // namespace qtorch::testing
