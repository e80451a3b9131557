// Helpers for the quant tests: tensors from lists, bit comparison, and independent scalar
// references (double arithmetic, written from docs/numerics.md, not from the code under test).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "qtorch/core/tensor.h"

namespace qtorch::quant::test {

inline Tensor T(const std::vector<float>& v) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
}

inline uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float float_of(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

/// Same value, with NaN == NaN and the sign of zero compared too.
inline bool same(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return bits_of(a) == bits_of(b);
}

inline constexpr float kInf = std::numeric_limits<float>::infinity();
inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

/// Checks got against want element by element (values), reporting the first few misses.
inline void expect_values(const std::vector<float>& got, const std::vector<float>& want,
                          const std::vector<float>& input = {}) {
  ASSERT_EQ(got.size(), want.size());
  int misses = 0;
  for (size_t i = 0; i < got.size() && misses < 8; ++i) {
    bool ok = std::isnan(want[i]) ? std::isnan(got[i]) : got[i] == want[i];
    if (!ok) {
      ++misses;
      ADD_FAILURE() << "element " << i << (input.empty() ? "" : " input ")
                    << (input.empty() ? 0.0f : input[i]) << ": got " << got[i] << ", want "
                    << want[i];
    }
  }
}

/// Round-half-even (the C default rounding mode) of a double.
inline double rne(double v) { return std::nearbyint(v); }

/// Independent reference of a floating format with round-to-nearest-even:
/// emin, emax, man bits; `max` the largest finite value; overflow gives `ovf` (signed).
inline float ref_float_rne(float x, int emin, int man, double max, double ovf, bool subnormals) {
  if (std::isnan(x)) return x;
  double a = std::fabs(static_cast<double>(x));
  if (std::isinf(x)) return x;
  if (a == 0) return x;
  int e;
  std::frexp(a, &e);  // a in [2^(e-1), 2^e)
  e -= 1;
  double q = std::ldexp(1.0, (e < emin ? (subnormals ? emin : emin + man) : e) - man);
  double r = rne(a / q) * q;
  if (r > max) r = ovf;
  return static_cast<float>(std::copysign(r, static_cast<double>(x)));
}

/// A wide sample of float32 bit patterns: a stride through all 2^32, every pattern near
/// zero (subnormals), near the range ends and around powers of two.
inline std::vector<float> wide_sample(uint32_t stride = 4099) {
  std::vector<float> v;
  for (uint64_t u = 0; u < (1ull << 32); u += stride)
    v.push_back(float_of(static_cast<uint32_t>(u)));
  for (uint32_t u = 0; u < 4096; ++u) {
    v.push_back(float_of(u));
    v.push_back(float_of(u | 0x80000000u));
    v.push_back(float_of(0x7f800000u - 1 - u));
  }
  for (int e = -149; e <= 127; ++e)
    for (int d = -3; d <= 3; ++d) {
      uint32_t b = bits_of(std::ldexp(1.0f, e)) + static_cast<uint32_t>(d);
      v.push_back(float_of(b));
      v.push_back(-float_of(b));
    }
  return v;
}

}  // namespace qtorch::quant::test
