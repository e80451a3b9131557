// The element rules of the block-scaled formats (OCP MX and NVFP4, docs/numerics.md),
// shared by the CPU and CUDA kernels so that both give identical bits. A kernel finds
// each block's largest magnitude bits (an integer max over float_bits & 0x7fffffff, which
// also catches NaN and inf), turns them into a scale with mx_scale / nvfp4_block_scale,
// and rounds each element with quantize_mx / quantize_nvfp4. Keep device-specific code
// out of this header.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "qtorch/quant/rounding_core.h"

namespace qtorch::quant {

/// floor(log2(a)) for the magnitude bits `a` of a nonzero finite float32, subnormals
/// included (their exponent field reads 0, so the integer significand is converted to
/// float, exactly, to find its top bit).
QTORCH_HD int32_t floor_log2_bits(uint32_t a) {
  int32_t be = static_cast<int32_t>(a >> 23);
  int32_t sub = static_cast<int32_t>(float_bits(static_cast<float>(a & 0x7fffffu)) >> 23) - 127 - 149;
  return be != 0 ? be - 127 : sub;
}

// ---- MX: one power-of-two scale X = 2^s per block ----

/// What quantize_mx needs of one block: rounding v = x / X on the element grid is
/// rounding x on the grid 2^(max(e, emin) - man) (X is a power of two), so X only shifts
/// emin and the largest magnitude.
struct MXScale {
  int32_t emin;       // element emin + s: below 2^emin the spacing is 2^(emin - man)
  int32_t man;        // element mantissa bits
  uint32_t max_bits;  // magnitude bits of element max * X
  bool nan;           // the block holds NaN or +-inf: every element becomes NaN
};

/// The scale exponent s = max(floor(log2(amax)) - emax, -127); a zero block gets -127.
/// A subnormal amax gives -127 too, whatever its exponent (it is below 2^-126).
QTORCH_HD int32_t mx_scale_exponent(uint32_t max_abs_bits, const ElementFormat& f) {
  int32_t e = static_cast<int32_t>(max_abs_bits >> 23) - 127 - f.emax;
  return e > -127 ? e : -127;
}

QTORCH_HD MXScale mx_scale(uint32_t max_abs_bits, const ElementFormat& f) {
  int32_t s = mx_scale_exponent(max_abs_bits, f);
  MXScale m;
  m.emin = f.emin + s;
  m.man = f.man;
  // The element max has at most 4 significant bits and its top exponent is emax, with
  // emax + s <= 127 and (its lowest bit) >= 2^-136: max * 2^s is an exact float32.
  int32_t top = static_cast<int32_t>(f.max_bits >> 23) + s;  // biased exponent after scaling
  m.max_bits = top >= 1 ? (static_cast<uint32_t>(top) << 23) | (f.max_bits & 0x7fffffu)
                        : ((f.max_bits & 0x7fffffu) | 0x800000u) >> (1 - top);
  m.nan = max_abs_bits >= kInfBits;
  return m;
}

/// One MX element: x rounded once on the block's element grid, then saturated to +-max.
/// The sign of zero is kept. clamped = 1 when the rounded magnitude exceeded max.
/// Branch: the GPU's form, which takes a float32 normal in a binade e >= emin (quantum
/// 2^(e - man): 23 - man bits dropped) by round_low_bits and only the rest through
/// round_to_quantum's branching form; the same bits (tests/quant/test_branch_paths.cpp).
template <RoundKind K, bool Branch = false>
QTORCH_HD float quantize_mx(float x, const MXScale& s, uint32_t rnd, uint32_t& clamped) {
  uint32_t b = float_bits(x);
  uint32_t a = b & kAbsMask;
  uint32_t r;
  const int32_t be = static_cast<int32_t>(a >> 23);
  if (Branch && be >= 1 && be - 127 >= s.emin) {
    r = round_low_bits<K>(a, b >> 31, 23 - s.man, rnd);
  } else {
    int32_t e = floor_log2_bits(a | 1u);  // a = 0 rounds to 0 on any grid
    int32_t q = (e > s.emin ? e : s.emin) - s.man;
    r = round_to_quantum<K, Branch>(a, b >> 31, q, pow2_bits(q), rnd);
  }
  bool over = r > s.max_bits;
  clamped = (over & !s.nan) ? 1u : 0u;
  uint32_t out = s.nan ? kNaNBits : ((over ? s.max_bits : r) | (b & kSignBit));
  return bits_float(out);
}

// ---- NVFP4: an E4M3 scale per block and one float32 scale g per tensor ----

/// g = float32 round-to-nearest-even of t / 2688 (2688 = 6 * 448), t the largest finite
/// magnitude in the tensor. IEEE division is correctly rounded, so this is exact.
QTORCH_HD float nvfp4_tensor_scale(uint32_t max_finite_abs_bits) {
  return bits_float(max_finite_abs_bits) / 2688.0f;
}

/// 2^n as a double, for -1022 <= n <= 1023 (exact, no libm call).
QTORCH_HD double pow2_double(int32_t n) {
  uint64_t u = static_cast<uint64_t>(n + 1023) << 52;
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

/// floor(log2(d)) of a positive normal double, from its exponent field.
QTORCH_HD int32_t floor_log2_double(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return static_cast<int32_t>((u >> 52) & 0x7ffu) - 1023;
}

/// Rounds the double d >= 0 (normal or zero) to a multiple of 2^q, q = max(floor(log2 d),
/// emin) - man (a float grid with subnormals), to nearest, ties to even. Exact: the steps
/// are scalings by powers of two, a floor and a subtraction of two close doubles.
QTORCH_HD double round_double_nearest_even(double d, int32_t emin, int32_t man) {
  if (d == 0.0) return 0.0;
  int32_t e = floor_log2_double(d);
  int32_t q = (e > emin ? e : emin) - man;
  double k = d * pow2_double(-q);  // < 2^(man + 1)
  double kf = floor(k);
  double frac = k - kf;
  bool odd = (static_cast<int64_t>(kf) & 1) != 0;
  if (frac > 0.5 || (frac == 0.5 && odd)) kf += 1.0;
  return kf * pow2_double(q);
}

/// The E4M3 scale of one block: the exact quotient amax / (6 g), rounded to nearest-even
/// E4M3FN (subnormals down to 2^-9, saturating at 448). The double quotient is correctly
/// rounded, and a quotient of a 24-bit by a 26-bit number that is not an E4M3 tie lies at
/// least 2^-31 (relative) from one, so rounding the double gives the exact quotient's
/// rounding. Also says whether the block holds NaN or inf.
struct NVFP4Scale {
  double sg;  // S * g, exact (S has 4 significant bits, g 24)
  bool zero;  // S == 0 (or g == 0): the block's outputs are zeros of the inputs' signs
  bool nan;   // the block holds NaN or +-inf: every element becomes NaN
};

QTORCH_HD NVFP4Scale nvfp4_block_scale(uint32_t max_abs_bits, float g) {
  NVFP4Scale s;
  s.nan = max_abs_bits >= kInfBits;
  double d = g > 0.0f ? static_cast<double>(bits_float(max_abs_bits & kAbsMask)) /
                            (6.0 * static_cast<double>(g))
                      : 0.0;
  double S = s.nan ? 0.0 : round_double_nearest_even(d, -6, 3);
  S = S > 448.0 ? 448.0 : S;
  s.sg = S * static_cast<double>(g);
  s.zero = s.sg == 0.0;
  return s;
}

/// The E2M1 grid {0, 0.5, 1, 1.5, 2, 3, 4, 6} and the point after it (8), which only a
/// value that saturates reaches. An element's index is the parity of its mantissa.
QTORCH_HD double e2m1_grid(int32_t index) {
  return index < 4 ? 0.5 * index : (index < 6 ? index - 2.0 : (index == 6 ? 4.0 : (index == 7 ? 6.0 : 8.0)));
}

/// Whether an NVFP4 element goes up from grid point lo (index parity lo_odd) toward the
/// next, hi: d = |x| - lo and w = hi - lo, both exact doubles (lo <= |x| < hi <= 2 lo, or
/// lo = 0). Nearest and directed modes compare them exactly. Stochastic rounds the double
/// quotient d / w (correctly rounded) to the 32-bit fraction F, with a sticky bit, and goes
/// up when rnd < F, as the rounding core does.
template <RoundKind K>
QTORCH_HD bool nvfp4_round_up(double d, double w, uint32_t lo_odd, uint32_t neg, uint32_t rnd) {
  if constexpr (K == RoundKind::Stochastic) {
    double scaled = d / w * 4294967296.0;  // < 2^32: d < w
    double top = floor(scaled);
    uint32_t F = static_cast<uint32_t>(top) | (scaled != top ? 1u : 0u);
    return rnd < F;
  } else if constexpr (K == RoundKind::NearestAway) {
    return 2.0 * d >= w;
  } else if constexpr (K == RoundKind::NearestEven) {
    return 2.0 * d > w || (2.0 * d == w && lo_odd != 0u);
  } else if constexpr (K == RoundKind::NearestUp) {
    return 2.0 * d > w || (2.0 * d == w && neg == 0u);
  } else if constexpr (K == RoundKind::TowardZero) {
    return false;
  } else if constexpr (K == RoundKind::Up) {
    return d > 0.0 && neg == 0u;
  } else {
    return d > 0.0 && neg != 0u;
  }
}

/// One NVFP4 element: q = x / (S g) rounded once to E2M1 (saturating at 6) with mode K,
/// then y = q * S * g rounded to nearest-even float32. Computed in x's units, exactly: the
/// grid points times S g are exact doubles (at most 31 significant bits), |x| is compared
/// with them to find its floor point, and nvfp4_round_up decides. A quotient that is not a
/// grid point or tie lies at least 2^-31 (relative) from one (a 24-bit over a 28-bit
/// number against a 3-bit one), far beyond a double's rounding, so the decisions match
/// the exact quotient's. clamped = 1 when the rounded value exceeded 6.
/// The E2M1 index of |x| = a whose floor grid index is lo (0 .. 8): lo, or lo + 1 where
/// nvfp4_round_up says so; 8 (|x| >= 8 S g) stays 8, past 6 in every mode.
template <RoundKind K>
QTORCH_HD int32_t nvfp4_rounded_index(double a, int32_t lo, const NVFP4Scale& s, uint32_t neg, uint32_t rnd) {
  if (lo >= 8) return 8;
  const double glo = e2m1_grid(lo) * s.sg;
  const double d = a - glo, w = e2m1_grid(lo + 1) * s.sg - glo;
  return lo + (nvfp4_round_up<K>(d, w, static_cast<uint32_t>(lo & 1), neg, rnd) ? 1 : 0);
}

/// The output of E2M1 index `index` (0 .. 8) with x's sign bit: p S g rounded to
/// nearest-even float32 (at most 30 significant bits: one rounding); past 6 it saturates
/// and clamped = 1.
QTORCH_HD float nvfp4_output(int32_t index, const NVFP4Scale& s, uint32_t sign_bit, uint32_t& clamped) {
  clamped = index > 7 ? 1u : 0u;
  const float y = static_cast<float>(e2m1_grid(index > 7 ? 7 : index) * s.sg);
  return bits_float(float_bits(y) | sign_bit);
}

template <RoundKind K>
QTORCH_HD float quantize_nvfp4(float x, const NVFP4Scale& s, uint32_t rnd, uint32_t& clamped) {
  uint32_t b = float_bits(x);
  clamped = 0u;
  if (s.nan) return bits_float(kNaNBits);
  if (s.zero) return bits_float(b & kSignBit);
  double a = fabs(static_cast<double>(x));
  int32_t lo = 0;  // the floor grid index, 0 .. 8
  for (int32_t j = 1; j <= 8; ++j) lo += a >= e2m1_grid(j) * s.sg ? 1 : 0;
  return nvfp4_output(nvfp4_rounded_index<K>(a, lo, s, b >> 31, rnd), s, b & kSignBit, clamped);
}

/// An NVFP4 block's E2M1 steps as float32 thresholds: quantize_nvfp4 compares the double
/// |x| exactly with multiples of S g; for a real T and a float32 a, a >= T <=> a >= RU(T)
/// and a > T <=> a >= succ(RD(T)), so the same comparisons are float32 compares with
/// thresholds rounded once per block. |x| >= step[k] counts index k + 1:
/// - NearestEven: the midpoints (p_k + p_k+1) / 2 S g, >= after an odd index (a tie goes
///   to the even one), > after an even one; NearestAway: >= at every midpoint;
/// - TowardZero, and the floor index of the modes whose step up depends on more than |x|
///   (kNVFP4StepsDecide false: Stochastic on its word, Up, Down and NearestUp on the sign):
///   the points p_k+1 S g with >=. Those modes then decide the step up as quantize_nvfp4
///   does (nvfp4_rounded_index).
/// The GPU's kernels use these (8 float compares per element instead of 8 double ones); the
/// CPU's AVX-512 kernel has the same thresholds (quant/cpu/microscaling_fast.h).
struct NVFP4Thresholds {
  float step[8];
};

/// Whether nvfp4_thresholds<K> gives an element's rounded index itself (else its floor index).
template <RoundKind K>
inline constexpr bool kNVFP4StepsDecide =
    K == RoundKind::NearestEven || K == RoundKind::NearestAway || K == RoundKind::TowardZero;

/// The float32 RU(t) of a double t >= 0 (inf past float32's range).
QTORCH_HD float float_at_least(double t) {
  const float f = static_cast<float>(t);
  return static_cast<double>(f) < t ? bits_float(float_bits(f) + 1u) : f;
}
/// succ(RD(t)) of a double t >= 0: the least float32 above t (inf past the largest float32).
QTORCH_HD float float_above(double t) {
  const float f = static_cast<float>(t);
  return bits_float((static_cast<double>(f) > t ? float_bits(f) - 1u : float_bits(f)) + 1u);
}

template <RoundKind K>
QTORCH_HD NVFP4Thresholds nvfp4_thresholds(const NVFP4Scale& s) {
  NVFP4Thresholds t;
  for (int32_t k = 0; k < 8; ++k) {
    const double lo = e2m1_grid(k) * s.sg, hi = e2m1_grid(k + 1) * s.sg;  // exact
    const double mid = 0.5 * (lo + hi);                                   // exact: one more bit
    if constexpr (K == RoundKind::NearestEven)
      t.step[k] = k % 2 == 1 ? float_at_least(mid) : float_above(mid);
    else if constexpr (K == RoundKind::NearestAway)
      t.step[k] = float_at_least(mid);
    else
      t.step[k] = float_at_least(hi);
  }
  return t;
}

/// quantize_nvfp4<K> with the block's thresholds t = nvfp4_thresholds<K>(s): the same bits.
/// Where the thresholds give the floor index (kNVFP4StepsDecide false), the step up is then
/// decided as quantize_nvfp4 decides it.
template <RoundKind K>
QTORCH_HD float quantize_nvfp4_thresholds(float x, const NVFP4Scale& s, const NVFP4Thresholds& t, uint32_t rnd,
                                          uint32_t& clamped) {
  const uint32_t b = float_bits(x);
  clamped = 0u;
  if (s.nan) return bits_float(kNaNBits);
  if (s.zero) return bits_float(b & kSignBit);
  const float a = bits_float(b & kAbsMask);
  int32_t index = 0;
  for (int32_t k = 0; k < 8; ++k) index += a >= t.step[k] ? 1 : 0;
  if constexpr (!kNVFP4StepsDecide<K>) index = nvfp4_rounded_index<K>(a, index, s, b >> 31, rnd);
  return nvfp4_output(index, s, b & kSignBit, clamped);
}

}  // namespace qtorch::quant
