// The independent reference of the MX and NVFP4 tests: exact rational arithmetic in 128-bit
// integers, written from docs/numerics.md ("Microscaling", "NVFP4"), not from the kernels;
// plus running the CPU kernel with given random words, and random test values.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "qtorch/quant/cpu/quantize_cpu.h"
#include "qtorch/quant/quantize.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {

using i128 = __int128;

// ---------------------------------------------------------------------------------------
// The reference: values are P / Q * 2^E with integers P, Q > 0 (exact).

struct Rational {
  i128 P, Q;
  int E;
};

inline int bit_length(i128 v) {
  int n = 0;
  while (v > 0) {
    v >>= 1;
    ++n;
  }
  return n;
}

// floor(log2(P / Q)) + E for P, Q > 0.
inline int floor_log2(const Rational& r) {
  int e = bit_length(r.P) - bit_length(r.Q);  // P/Q in [2^(e-1), 2^(e+1))
  // P / Q >= 2^e ?
  const bool at_least = e >= 0 ? r.P >= (r.Q << e) : (r.P << -e) >= r.Q;
  return (at_least ? e : e - 1) + r.E;
}

// The magnitude of a finite double as P * 2^E with P odd (or 0): at most 24 bits for a
// float32, 30 for the products below, so no product or shift here overflows 128 bits.
inline Rational rational_of_double(double v) {
  int e;
  const double m = std::frexp(std::fabs(v), &e);  // v = m * 2^e
  Rational r{static_cast<i128>(std::ldexp(m, 53)), 1, e - 53};
  while (r.P != 0 && (r.P & 1) == 0) {
    r.P >>= 1;
    ++r.E;
  }
  return r;
}
inline Rational rational_of(float x) { return rational_of_double(static_cast<double>(x)); }

// The magnitude k * 2^q as a double (exact for the values here).
inline double value_of(i128 k, int q) { return std::ldexp(static_cast<double>(k), q); }

// The magnitude r on a float grid with binades from emin, man mantissa bits and subnormal
// spacing 2^(emin - man): r = (k + rem / den) 2^q with the quantum 2^q = 2^(max(e, emin) - man).
struct Fraction {
  i128 k, rem, den;
  int q;
};
inline Fraction fraction_of(const Rational& r, int emin, int man) {
  const int e = floor_log2(r);
  const int q = std::max(e, emin) - man;
  // k = floor(r / 2^q), rem / den the fraction.
  i128 num = r.P, den = r.Q;
  const int d = r.E - q;
  bool tiny = false;
  if (d >= 0) {
    num <<= d;
  } else if (-d <= 64) {
    den <<= -d;
  } else {
    tiny = true;  // far below the quantum (P / Q < 2^30): k = 0, fraction below 2^-34
  }
  if (tiny) return {0, 1, i128{1} << 64, q};  // a fraction below 2^-40 acts as 2^-64
  const i128 k = num / den;
  return {k, num - k * den, den, q};
}

// Rounds the magnitude r on that grid with `mode`. rnd: the element's random word
// (stochastic rounds up when rnd / 2^32 < the fraction); neg: the sign, for Up / Down.
// Returns k * 2^q.
struct Rounded {
  i128 k;
  int q;
};
inline Rounded round_rational(const Rational& r, int emin, int man, Rounding mode, bool neg, uint32_t rnd,
                       bool ties_away) {
  if (r.P == 0) return {0, 0};
  const auto [k, rem, den, q] = fraction_of(r, emin, man);
  bool up = false;
  switch (mode) {
    case Rounding::Nearest:
      up = ties_away ? 2 * rem >= den && rem > 0 : 2 * rem > den || (2 * rem == den && (k & 1));
      break;
    case Rounding::NearestEven:
      up = 2 * rem > den || (2 * rem == den && (k & 1));
      break;
    case Rounding::TowardZero:
      break;
    case Rounding::Up:
      up = rem > 0 && !neg;
      break;
    case Rounding::Down:
      up = rem > 0 && neg;
      break;
    case Rounding::Stochastic: {
      // rnd < frac * 2^32  <=>  rnd * den < rem * 2^32
      up = static_cast<i128>(rnd) * den < (rem << 32);
      break;
    }
  }
  return {k + (up ? 1 : 0), q};
}

struct ElementGrid {
  int man, emin, emax;
  double max;
};
inline ElementGrid grid_of(MXElement e) {
  switch (e) {
    case MXElement::E4M3: return {3, -6, 8, 448};
    case MXElement::E5M2: return {2, -14, 15, 57344};
    case MXElement::E3M2: return {2, -2, 4, 28};
    case MXElement::E2M3: return {3, 0, 2, 7.5};
    case MXElement::E2M1: return {1, 0, 2, 6};
    case MXElement::Int8: return {6, 0, 0, 127.0 / 64};
  }
  return {};
}

struct RefOut {
  std::vector<float> y, mask;
};

// Element (o, r, k) of x seen as [outer, len, inner]: the flat indices of each block.
inline std::vector<std::vector<int64_t>> blocks_of(const Shape& shape, int axis, int block) {
  const Shape s = shape.empty() ? Shape{1} : shape;
  const int64_t nd = static_cast<int64_t>(s.size());
  const int64_t a = axis < 0 ? axis + nd : axis;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < a; ++d) outer *= s[d];
  for (int64_t d = a + 1; d < nd; ++d) inner *= s[d];
  const int64_t len = s[a];
  std::vector<std::vector<int64_t>> blocks;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < len; j += block)
      for (int64_t k = 0; k < inner; ++k) {
        std::vector<int64_t> idx;
        for (int64_t r = j; r < std::min(len, j + block); ++r) idx.push_back((o * len + r) * inner + k);
        blocks.push_back(idx);
      }
  return blocks;
}

inline RefOut reference_mx(const std::vector<float>& x, const Shape& shape, const MXFormat& f, Rounding mode,
                    const std::vector<uint32_t>& rnd) {
  const ElementGrid g = grid_of(f.element);
  RefOut out{std::vector<float>(x.size()), std::vector<float>(x.size(), 0.0f)};
  for (const auto& idx : blocks_of(shape, f.axis, f.block)) {
    bool bad = false;
    double amax = 0;
    for (int64_t i : idx) {
      bad = bad || !std::isfinite(x[i]);
      amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
    }
    // X = 2^s, s = floor(log2 amax) - emax, clamped below at -127 (zero block: -127).
    int s = amax > 0 ? floor_log2(rational_of(static_cast<float>(amax))) - g.emax : -127;
    s = std::max(s, -127);
    for (int64_t i : idx) {
      if (bad) {
        out.y[i] = kNaN;
        continue;
      }
      Rational v = rational_of(x[i]);
      v.E -= s;  // x / X
      const bool neg = std::signbit(x[i]);
      const Rounded q = round_rational(v, g.emin, g.man, mode, neg, rnd.empty() ? 0 : rnd[i], true);
      double m = x[i] == 0 ? 0.0 : value_of(q.k, q.q);
      if (m > g.max) {
        m = g.max;
        out.mask[i] = 1;
      }
      out.y[i] = static_cast<float>(std::copysign(std::ldexp(m, s), static_cast<double>(x[i])));
    }
  }
  return out;
}

// The float32 round-to-nearest-even of a positive rational (inf past the range).
inline double to_float32(const Rational& r) {
  if (r.P == 0) return 0;
  const Rounded q = round_rational(r, -126, 23, Rounding::NearestEven, false, 0, false);
  const double v = value_of(q.k, q.q);
  return v > 3.4028234663852886e38 ? INFINITY : v;
}

inline Rational times(const Rational& a, const Rational& b) { return {a.P * b.P, a.Q * b.Q, a.E + b.E}; }

// One NVFP4 element before its rounding: its block's S g and v = |x| / (S g), exact.
struct NVFP4Element {
  enum Kind { NaNBlock, Zero, Scaled } kind;  // Zero: x = 0 or S g = 0
  Rational sg, v;
};
inline std::vector<NVFP4Element> nvfp4_elements(const std::vector<float>& x, const Shape& shape,
                                                const NVFP4Format& f) {
  std::vector<NVFP4Element> out(x.size(), NVFP4Element{NVFP4Element::Zero, {}, {}});
  double t = 0;
  for (float v : x)
    if (std::isfinite(v)) t = std::max(t, std::fabs(static_cast<double>(v)));
  // g = RNE float32 of t / 2688.
  const double g = t == 0 ? 0.0 : to_float32({rational_of(static_cast<float>(t)).P, 2688, rational_of(static_cast<float>(t)).E});
  for (const auto& idx : blocks_of(shape, f.axis, f.block)) {
    bool bad = false;
    double amax = 0;
    for (int64_t i : idx) {
      bad = bad || !std::isfinite(x[i]);
      if (std::isfinite(x[i])) amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
    }
    // S = RNE E4M3 of amax / (6 g), saturating at 448.
    double S = 0;
    if (!bad && g > 0 && amax > 0) {
      const Rational num = rational_of(static_cast<float>(amax));
      const Rational den = rational_of_double(g);
      const Rational quotient{num.P * den.Q, den.P * 6, num.E - den.E};
      const Rounded r = round_rational(quotient, -6, 3, Rounding::NearestEven, false, 0, false);
      S = std::min(value_of(r.k, r.q), 448.0);
    }
    for (int64_t i : idx) {
      auto& e = out[static_cast<size_t>(i)];
      if (bad) {
        e.kind = NVFP4Element::NaNBlock;
      } else if (S != 0 && x[i] != 0) {
        e.kind = NVFP4Element::Scaled;
        e.sg = times(rational_of_double(S), rational_of_double(g));
        const Rational xr = rational_of(x[i]);
        e.v = {xr.P * e.sg.Q, e.sg.P, xr.E - e.sg.E};
      }
    }
  }
  return out;
}

inline RefOut reference_nvfp4(const std::vector<float>& x, const Shape& shape, const NVFP4Format& f,
                       Rounding mode, const std::vector<uint32_t>& rnd) {
  RefOut out{std::vector<float>(x.size()), std::vector<float>(x.size(), 0.0f)};
  const std::vector<NVFP4Element> elements = nvfp4_elements(x, shape, f);
  for (size_t i = 0; i < x.size(); ++i) {
    const NVFP4Element& e = elements[i];
    const bool neg = std::signbit(x[i]);
    if (e.kind == NVFP4Element::NaNBlock) {
      out.y[i] = kNaN;
      continue;
    }
    if (e.kind == NVFP4Element::Zero) {
      out.y[i] = neg ? -0.0f : 0.0f;
      continue;
    }
    const Rounded q = round_rational(e.v, 0, 1, mode, neg, rnd.empty() ? 0 : rnd[i], true);
    double m = value_of(q.k, q.q);
    if (m > 6) {
      m = 6;
      out.mask[i] = 1;
    }
    const double y = m == 0 ? 0.0 : to_float32(times(rational_of_double(m), e.sg));
    out.y[i] = static_cast<float>(neg ? -y : y);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Running the kernel with given random words.

inline RefOut run_kernel(const std::vector<float>& x, const Shape& shape, const Number& number, Rounding mode,
                  const std::vector<uint32_t>& rnd, QuantStats* stats = nullptr) {
  const QuantParams p = make_quant_params(number, mode, shape);
  RefOut out{std::vector<float>(x.size()), std::vector<float>(x.size())};
  std::vector<uint32_t> words = rnd;
  words.resize(x.size(), 0u);
  quantize_cpu_with_bits(x.data(), out.y.data(), out.mask.data(), static_cast<int64_t>(x.size()), p,
                         words.data(), stats, true);
  return out;
}

inline std::vector<float> quantize_values(const std::vector<float>& x, const Shape& shape, const Number& number,
                                   Rounding mode) {
  return quantize(Tensor::from_vector(x, shape), number, mode).to_vector();
}

inline constexpr Rounding kModes[] = {Rounding::Nearest,    Rounding::NearestEven, Rounding::TowardZero,
                               Rounding::Up,         Rounding::Down,        Rounding::Stochastic};
inline constexpr MXElement kElements[] = {MXElement::E4M3, MXElement::E5M2, MXElement::E3M2,
                                   MXElement::E2M3, MXElement::E2M1, MXElement::Int8};

// ---------------------------------------------------------------------------------------
// Random tensors against the reference.

inline std::vector<float> random_values(std::mt19937& gen, int64_t n) {
  std::uniform_int_distribution<int> kind(0, 19), small(-70, 70), exponent(-12, 6), wide(-140, 120);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  const int block_style = kind(gen) % 3;  // 0: integers times a power (ties), 1: normals, 2: wide
  for (float& x : v) {
    const int k = kind(gen);
    if (k == 0) x = 0.0f;
    else if (k == 1) x = -0.0f;
    else if (block_style == 0) x = std::ldexp(static_cast<float>(small(gen)), exponent(gen));
    else if (block_style == 1) x = normal(gen) * std::ldexp(1.0f, exponent(gen));
    else x = std::ldexp(normal(gen), wide(gen));
  }
  return v;
}

inline void expect_same_bits(const RefOut& got, const RefOut& want, const std::vector<float>& x, const std::string& what) {
  int misses = 0;
  for (size_t i = 0; i < x.size() && misses < 4; ++i)
    if (!same(got.y[i], want.y[i]) || got.mask[i] != want.mask[i]) {
      ++misses;
      ADD_FAILURE() << what << " element " << i << ": x=" << testing::describe_float(x[i])
                    << " got " << testing::describe_float(got.y[i]) << " mask " << got.mask[i] << ", want "
                    << testing::describe_float(want.y[i]) << " mask " << want.mask[i];
    }
}

}  // namespace qtorch::quant::test
