// Helpers for the quant tests: tensors from lists, value comparison and bits (from
// qtorch::testing), and independent scalar references (double arithmetic, written from
// docs/numerics.md, not from the code under test).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "qtorch/core/error.h"
#include "qtorch/core/tensor.h"
#include "qtorch/testing.h"

/// The statement throws qtorch::Error whose message contains `part`.
#define EXPECT_THROW_MSG(statement, part)                                                   \
  do {                                                                                      \
    try {                                                                                   \
      (void)(statement);                                                                    \
      ADD_FAILURE() << "expected qtorch::Error from " #statement;                           \
    } catch (const ::qtorch::Error& e) {                                                    \
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();           \
    }                                                                                       \
  } while (0)

namespace qtorch::quant::test {

/// The bit patterns a stride rarely meets: for every sign and exponent code and every
/// count d of dropped mantissa bits (0..23), the patterns at and next to a multiple of 2^d
/// and at and next to the tie between two multiples, with even and odd multiples.
inline std::vector<uint32_t> edge_patterns() {
  std::vector<uint32_t> v;
  for (uint32_t sign : {0u, 1u})
    for (uint32_t be = 0; be < 256; ++be)
      for (uint32_t d = 0; d <= 23; ++d)
        for (uint32_t k : {0u, 1u, 2u, 3u, (0x7fffffu >> d)}) {
          const uint32_t multiple = (k << d) & 0x7fffffu;
          const uint32_t half = d > 0 ? 1u << (d - 1) : 0u;
          for (uint32_t m : {multiple, multiple + half, multiple + half - 1u, multiple + half + 1u, multiple + 1u,
                             multiple - 1u})
            v.push_back((sign << 31) | (be << 23) | (m & 0x7fffffu));
        }
  return v;
}

/// A random word per input (splitmix64's mixing of the bit pattern), for stochastic rounding.
inline uint32_t word_for(uint64_t u) {
  u = (u ^ (u >> 30)) * 0xbf58476d1ce4e5b9ull;
  u = (u ^ (u >> 27)) * 0x94d049bb133111ebull;
  return static_cast<uint32_t>(u ^ (u >> 31));
}

/// The inputs on which two forms of a rounding rule differ in bits or clamp flag, each
/// called as f(x, rnd, clamped_flag) -> y: a stride over all 2^32 float32 bit patterns
/// (every one with QTORCH_EXHAUSTIVE=1) plus edge_patterns(); the first three are reported.
template <class Reference, class Candidate>
int64_t path_mismatches(uint64_t stride, const std::string& what, Reference reference, Candidate candidate) {
  static const std::vector<uint32_t> edges = edge_patterns();
  if (std::getenv("QTORCH_EXHAUSTIVE") != nullptr) stride = 1;
  int64_t bad = 0;
  auto check = [&](uint64_t u) {
    uint32_t bits = static_cast<uint32_t>(u), c1 = 0, c2 = 0;
    float x;
    std::memcpy(&x, &bits, sizeof x);
    const float a = reference(x, word_for(u), c1), b = candidate(x, word_for(u), c2);
    uint32_t ab, bb;
    std::memcpy(&ab, &a, sizeof ab);
    std::memcpy(&bb, &b, sizeof bb);
    if (ab != bb || c1 != c2) {
      if (bad < 3)
        ADD_FAILURE() << what << ", x bits 0x" << std::hex << u << ": 0x" << ab << " (flag " << c1 << ") against 0x"
                      << bb << " (flag " << c2 << ")";
      ++bad;
    }
  };
  for (uint64_t u = 0; u < (uint64_t{1} << 32); u += stride) check(u);
  for (uint32_t u : edges) check(u);
  return bad;
}

/// n values spread over [-spread/2, spread/2) by a linear congruential generator from `seed`
/// (independent of qtorch's generators).
inline std::vector<float> spread_values(int64_t n, uint32_t seed, float spread) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t state = seed;
  for (float& e : v) {
    state = state * 1664525u + 1013904223u;
    e = (static_cast<float>(state >> 8) / 16777216.0f - 0.5f) * spread;
  }
  return v;
}

inline Tensor T(const std::vector<float>& v) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
}

using qtorch::testing::bits_of;
using qtorch::testing::float_of;

/// Same value, with NaN == NaN and the sign of zero compared too.
inline bool same(float a, float b) { return qtorch::testing::elements_equal(a, b); }

inline constexpr float kInf = std::numeric_limits<float>::infinity();
inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

/// Checks got against want element by element (values: -0 == +0, NaN == NaN), reporting
/// the first misses with their bits and, when given, the inputs.
inline void expect_values(const std::vector<float>& got, const std::vector<float>& want,
                          const std::vector<float>& input = {}) {
  const qtorch::testing::CompareResult r = qtorch::testing::expect_equal_values(got, want);
  if (r) return;
  ADD_FAILURE() << r.message
                << (input.empty() || r.first_index < 0
                        ? std::string()
                        : " (first differing input " + qtorch::testing::describe_float(input[r.first_index]) + ")");
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
