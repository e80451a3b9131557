// The arithmetic of low-precision multiply-accumulate (docs/numerics.md, "Low-precision
// multiply-accumulate"), shared by the CPU and CUDA qmatmul kernels so that both give the
// same bits. Every operation is "exact, rounded once": a product of two float32 is exact in
// double; a sum of two values is carried exactly as a double pair (TwoSum), squeezed into
// one double by rounding to odd (which keeps every later rounding to a grid at least two
// bits coarser correct), then rounded to the format's grid with the rounding core's rule.
// Keep device-specific code out of this header.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "qtorch/quant/microscaling_core.h"  // pow2_double, floor_log2_double
#include "qtorch/quant/rounding_core.h"

namespace qtorch::quant {

QTORCH_HD uint64_t double_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return u;
}
QTORCH_HD double bits_double(uint64_t u) {
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

/// The exact sum a + b as s + e with s = fl(a + b) (Knuth's TwoSum; no overflow assumed).
struct DoublePair {
  double s, e;
};
QTORCH_HD DoublePair two_sum(double a, double b) {
  double s = a + b;
  double bb = s - a;
  double e = (a - (s - bb)) + (b - bb);
  return {s, e};
}

/// s + e (|e| <= ulp(s) / 2) rounded to a double with round-to-odd: s itself when exact,
/// else the neighbour of the pair's value whose last significand bit is 1. A later
/// rounding to any grid at least 2 bits coarser than the double's is then the rounding of
/// the exact s + e (Boldo and Melquiond, "Emulation of FMA and correctly rounded sums").
QTORCH_HD double round_to_odd(double s, double e) {
  if (e == 0.0 || !(fabs(s) < HUGE_VAL)) return s;
  uint64_t u = double_bits(s);
  if ((u & 1u) == 0u) u = (e > 0.0) == (s > 0.0) ? u + 1u : u - 1u;  // one ulp toward e
  return bits_double(u);
}

/// Rounds the magnitude a >= 0 (finite double) to a multiple of 2^q with mode K; the same
/// decision as round_to_quantum on float32 bits: F is the dropped fraction of a quantum as
/// 32-bit fixed point with a sticky last bit, lsb the parity of the truncated multiple.
template <RoundKind K>
QTORCH_HD double round_double_to_quantum(double a, uint32_t neg, int32_t q, uint32_t rnd) {
  double k = a * pow2_double(-q);  // exact: a power of two
  if (k >= 4503599627370496.0) return a;  // >= 2^52: already a multiple of 2^q
  double kf = floor(k);
  double scaled = (k - kf) * 4294967296.0;
  double top = floor(scaled);
  uint32_t F = static_cast<uint32_t>(top) | (scaled != top ? 1u : 0u);
  uint32_t lsb = static_cast<uint32_t>(static_cast<int64_t>(kf) & 1);
  if (round_up<K>(F, lsb, neg, rnd)) kf += 1.0;
  return kf * pow2_double(q);
}

/// The largest float32 that is a multiple of 2^q (q <= 127): float32's largest value, or
/// for q past 104 (float32's step in its top binade) 2^128 - 2^q.
QTORCH_HD uint32_t float32_top_multiple_bits(int32_t q) {
  return q <= 104 ? 0x7f7fffffu : 0x7f800000u - (1u << (q - 104));
}

/// The magnitude bits of the largest value of p's grid (QuantFamily::Float) that float32
/// holds: its largest value, or where that lies past float32's range (max_bits is the
/// infinity's: an exponent range reaching 2^128), 2^127 (2 - 2^-man).
QTORCH_HD uint32_t float32_top_bits(const QuantParams& p) {
  return p.max_bits < kInfBits ? p.max_bits : float32_top_multiple_bits(127 - p.man);
}

/// bits (a magnitude) with the sign bit `sign`, but a NaN as the quiet NaN kNaNBits.
QTORCH_HD uint32_t signed_unless_nan(uint32_t bits, uint32_t sign) {
  return bits > kInfBits ? kNaNBits : bits | sign;
}

/// Rounds the double d (finite or not) once to a fixed or floating format described by p
/// (QuantFamily::Fixed / Float of make_quant_params), with the same range rules as
/// quantize_fixed / quantize_float: overflow saturates, gives inf or NaN per the format,
/// the sign of zero is kept. A NaN becomes the quiet NaN kNaNBits, sign bit clear: a NaN
/// made by double arithmetic has a device-dependent sign (x86's default NaN is negative,
/// CUDA's canonical NaN positive) and payload, and both devices must give the same bits.
/// The grid is the format's values that float32 holds:
/// - fixed point: the multiples of 2^q that are float32 values, so the quantum at a is the
///   coarser of 2^q and float32's step there (past 2^(24 + q) float32's, without clamp or
///   with more than 25 bits);
/// - past float32's range (fixed point without clamp, a floating format whose exponents reach
///   2^128) the value overflows as float32 does: to the grid's largest float32 where the mode
///   rounds it toward zero, else to inf.
/// d must be the exact value or its round-to-odd double. clamped = 1 where the range rule
/// replaced the rounded value.
template <RoundKind K>
QTORCH_HD float round_double_to_format(double d, const QuantParams& p, uint32_t rnd, uint32_t& clamped) {
  uint32_t neg = static_cast<uint32_t>(double_bits(d) >> 63);
  double a = fabs(d);
  clamped = 0u;
  if (a != a) return bits_float(kNaNBits);
  uint32_t sign = neg << 31;
  if (p.family == QuantFamily::Fixed) {
    double r = a;
    int32_t q = p.q;
    if (a != HUGE_VAL) {
      const int32_t float32_step = (a >= 0x1p-126 ? floor_log2_double(a) : -126) - 23;
      if (q < float32_step) q = float32_step;
      r = round_double_to_quantum<K>(a, neg, q, rnd);
    }
    double y = neg ? -r : r;
    if (y > static_cast<double>(p.hi)) {
      clamped = 1u;
      return p.hi;
    }
    if (y < static_cast<double>(p.lo)) {
      clamped = 1u;
      return p.lo;
    }
    const uint32_t top = float32_top_multiple_bits(p.q);
    if (r > static_cast<double>(bits_float(top)) && a != HUGE_VAL) {
      clamped = 1u;
      return bits_float((rounds_toward_zero<K>(neg) ? top : kInfBits) | sign);
    }
    return static_cast<float>(y);  // exact: a float32 on the grid
  }
  if (a == HUGE_VAL) {
    clamped = p.inf_bits != kInfBits ? 1u : 0u;
    return bits_float(signed_unless_nan(p.inf_bits, sign));
  }
  if (a == 0.0) return bits_float(sign);
  int32_t e = floor_log2_double(a);
  int32_t q = e >= p.emin ? e - p.man : p.qsub;
  double r = round_double_to_quantum<K>(a, neg, q, rnd);
  const uint32_t top = float32_top_bits(p);
  if (r > static_cast<double>(bits_float(top))) {
    clamped = 1u;
    return bits_float(signed_unless_nan(rounds_toward_zero<K>(neg) ? top : p.ovf_bits, sign));
  }
  return bits_float(float_bits(static_cast<float>(r)) | sign);
}

/// What qmatmul's kernels need of MacOptions, as plain values (both devices).
struct MacParams {
  QuantParams mul;       // the product format (when has_mul)
  QuantParams acc;       // the accumulator format
  bool has_mul = false;
  bool fma = false;
  bool compensated = false;
  int64_t chunk = 0;     // 0: off
  int64_t M = 0, N = 0, K = 0;
  /// Random words per output element, and the words of each of its roundings: set by
  /// set_mac_word_layout.
  int64_t slots = 0;
  int64_t word_stride = 0;
};

/// The roundings of one k step: 0 the product, 1 the sum (or FMA), 2-4 Kahan's t, t - c
/// and the compensation update (y is rounding 1).
inline constexpr int64_t kRoundingsPerStep = 5;

/// The random words of an output element, in rows by rounding: rounding r of step k takes
/// slot r * word_stride + k, and the sum of chunk c that of rounding 1 at step K + c.
/// word_stride is the number of steps (K, plus one per chunk) rounded up to a multiple of
/// 4, so that each row starts a Philox block, and four consecutive steps of one rounding
/// share a block. Sets m.word_stride and m.slots (5 rows) from m.K and m.chunk.
inline void set_mac_word_layout(MacParams& m) {
  const int64_t chunks = m.chunk > 0 ? (m.K + m.chunk - 1) / m.chunk : 0;
  m.word_stride = (m.K + chunks + 3) / 4 * 4;
  m.slots = kRoundingsPerStep * m.word_stride;
}

/// The slot of rounding r (0..4) of step k (set_mac_word_layout).
QTORCH_HD int64_t mac_slot(const MacParams& m, int64_t k, int64_t r) { return r * m.word_stride + k; }

/// The exact sum x + y rounded to a floating-point format (QuantFamily::Float) in mode K
/// (rnd: its random word when stochastic) from s = the double nearest the sum, where that
/// is sure to give the exact path's bits (TwoSum, round-to-odd, round_double_to_format);
/// returns false (out untouched) where it is not.
/// - Nearest and directed modes: the rounding's decision points in s's binade (the
///   midpoints between grid values for the nearest modes, the grid values for the directed
///   ones) are doubles. Unless s is one of them, the exact sum lies on the same side of
///   every decision point as s (a point between the two would be a double nearer the sum
///   than s), so rounding s rounds the sum, and no tie is possible: every nearest mode
///   rounds up past the midpoint. A power of two, where the grid changes, is a grid value:
///   a directed mode's decision point, and for the nearest modes a sum within half a double
///   ulp of it rounds to it from either side. On a directed mode's point, s serves when the
///   sum is exact (TwoSum's error is 0).
/// - Stochastic: F, the dropped fraction of a quantum as 32 bits with a sticky last bit, is
///   the 32 bits of s below the grid, with the sticky bit set where any lower bit of s is
///   (then the exact sum, within half a double ulp of s, has the same 32 bits, and so has
///   its round-to-odd double, which moves s by at most its last bit). Where the lower bits
///   are zero, s serves only if the sum is exact (sticky bit clear). This needs 33 bits
///   below the grid: man <= 19.
/// Outside [2^emin, max] (the subnormal grid, zero, overflow, inf, NaN) the exact path
/// decides. The rounding is on s's bit pattern: add a bias or a quantum below the kept bits
/// (a carry moves to the next binade) and clear them; the result lies on the format's grid
/// within float32's range, so the conversion to float is exact. The CPU's AVX-512 kernel
/// (quant/cpu/qmatmul_fast.h, sum_round_lanes) applies the same rule to the nearest and
/// directed modes on eight lanes; its float32-lane kernel (quant/cpu/qmatmul_float_lanes.h)
/// applies round_fma_by_float_bits' rule on sixteen.
template <RoundKind K>
QTORCH_HD bool round_sum_by_bits(double x, double y, const QuantParams& p, uint32_t rnd, float& out) {
  constexpr uint64_t kSign = uint64_t{1} << 63;
  constexpr bool kNearest = K == RoundKind::NearestEven || K == RoundKind::NearestAway || K == RoundKind::NearestUp;
  const double s = x + y;
  const uint64_t sb = double_bits(s), ab = sb & ~kSign;
  const int shift = 52 - p.man;  // the double's significand bits below the format's grid
  const uint64_t low = (uint64_t{1} << shift) - 1u;
  const uint64_t min_bits = double_bits(pow2_double(p.emin));
  const uint64_t max_bits = double_bits(static_cast<double>(bits_float(float32_top_bits(p))));
  if (ab > max_bits || ab < min_bits) return false;
  uint64_t r;
  if constexpr (K == RoundKind::Stochastic) {
    if (shift <= 32) return false;
    const uint64_t below = (uint64_t{1} << (shift - 32)) - 1u;  // the bits past F's 32
    uint32_t sticky = 1u;
    if ((sb & below) == 0u) {
      if (two_sum(x, y).e != 0.0) return false;
      sticky = 0u;
    }
    const uint32_t F = static_cast<uint32_t>((ab & low) >> (shift - 32)) | sticky;
    r = (ab & ~low) + (rnd < F ? low + 1u : 0u);
  } else {
    const uint64_t half = uint64_t{1} << (shift - 1);
    if ((sb & low) == (kNearest ? half : 0u)) {
      if (kNearest || two_sum(x, y).e != 0.0) return false;  // a tie, or a sum just off the grid value s
      r = ab;
    } else {
      const bool neg = (sb & kSign) != 0u;
      uint64_t bias = 0;  // TowardZero
      if constexpr (kNearest) bias = half;
      else if constexpr (K == RoundKind::Up) bias = neg ? 0u : low;
      else if constexpr (K == RoundKind::Down) bias = neg ? low : 0u;
      r = (ab + bias) & ~low;
    }
  }
  out = static_cast<float>(bits_double(r | (sb & kSign)));
  return true;
}

/// Rounds the exact sum x + y once to the accumulator format: from the double nearest the
/// sum where round_sum_by_bits can (a floating-point accumulator), else through TwoSum and
/// round-to-odd. The same bits either way.
template <RoundKind KA>
QTORCH_HD_RARE float mac_round_sum(const MacParams& m, double x, double y, uint32_t rnd) {
  float out;
  if (m.acc.family == QuantFamily::Float && round_sum_by_bits<KA>(x, y, m.acc, rnd, out)) return out;
  const DoublePair s = two_sum(x, y);
  uint32_t clamped;
  return round_double_to_format<KA>(round_to_odd(s.s, s.e), m.acc, rnd, clamped);
}

/// Where s = fmaf(a, b, c) (bits sb, zero or normal and at most the format's max) is zero or
/// one of a nearest or directed mode K's decision points in format p (man <= 22), moves sb to
/// a float32 that round_fma_by_float_bits' bit rule (half a step of bias in every nearest
/// mode) rounds as the exact a * b + c:
/// - an s that is the exact value stays, but for a tie of a nearest mode, which moves one
///   float32 step the way its mode breaks it (toward even, away from zero, toward +inf);
/// - an s that is not moves one float32 step toward the exact value. The exact value lies
///   strictly between the two floats, and no decision point lies between it and the moved
///   s: they are float32 values at least two steps apart.
/// The exact error comes from TwoSum of the product and c, which needs the product exact in
/// float32: its error fmaf(a, b, -p) zero and not lost below float32's range (the product at
/// least 2^-100, an operand zero, or b = 1, as in a sum), and no overflow inside TwoSum.
/// Returns false, sb unchanged, where it is not, or where the move leaves
/// [2^max(emin, -126), max].
template <RoundKind K>
QTORCH_HD_RARE bool settle_fma_decision_point(float a, float b, float c, const QuantParams& p, uint32_t& sb) {
  constexpr bool kNearest = K == RoundKind::NearestEven || K == RoundKind::NearestAway || K == RoundKind::NearestUp;
  const float product = a * b;
  const bool exact_product = fmaf(a, b, -product) == 0.0f &&
                             (fabsf(product) >= 0x1p-100f || a == 0.0f || b == 0.0f || b == 1.0f);
  if (!exact_product) return false;
  // TwoSum: e = product + c - s exactly (s finite), unless s - product overflows (c off the
  // format's grid near float32's max, the product of the other sign).
  const float s = bits_float(sb);
  const float bb = s - product;
  if (!(fabsf(bb) < HUGE_VALF)) return false;
  const float e = (product - (s - bb)) + (c - bb);
  const bool negative = (sb >> 31) != 0u;
  bool up;  // in magnitude
  if (e != 0.0f) {
    up = (float_bits(e) >> 31 != 0u) == negative;
  } else if (kNearest && (sb << 1) != 0u) {  // a tie
    if constexpr (K == RoundKind::NearestAway) up = true;
    else if constexpr (K == RoundKind::NearestUp) up = !negative;
    else up = p.man == 0 || ((sb >> (23 - p.man)) & 1u) != 0u;  // the kept lsb (man = 0: the implicit bit)
  } else {
    return true;
  }
  const uint32_t moved = up ? sb + 1u : sb - 1u, am = moved & 0x7fffffffu;
  const uint32_t min_bits = static_cast<uint32_t>((p.emin > -126 ? p.emin : -126) + 127) << 23;
  if (am > float32_top_bits(p) || am < min_bits) return false;
  sb = moved;
  return true;
}

/// The exact a * b + c of three float32 rounded to a floating-point format (QuantFamily::
/// Float) in a nearest or directed mode K from s = fmaf(a, b, c), the float32 nearest the
/// exact value: round_sum_by_bits's rule with float32 in place of double. Its argument needs
/// the rounding's decision points in s's binade to be float32 values, so a grid at least one
/// bit coarser than float32's (man <= 22), and s normal in float32 and in the format, at most
/// its largest value. A zero s, or s on a decision point, is settled by
/// settle_fma_decision_point where the product is exact in float32. Returns false (out
/// untouched) where the rule does not decide: s a decision point or zero that is not
/// settled, nonzero outside that range, or a grid as fine as float32's. Stochastic rounding
/// never uses it: its F needs 32 bits below the grid.
template <RoundKind K>
QTORCH_HD bool round_fma_by_float_bits(float a, float b, float c, const QuantParams& p, float& out) {
  static_assert(K != RoundKind::Stochastic, "stochastic rounding needs 32 bits below the grid");
  constexpr bool kNearest = K == RoundKind::NearestEven || K == RoundKind::NearestAway || K == RoundKind::NearestUp;
  uint32_t sb = float_bits(fmaf(a, b, c));
  const uint32_t ab = sb & 0x7fffffffu;
  const int shift = 23 - p.man;  // float32's significand bits below the format's grid
  const uint32_t min_bits = static_cast<uint32_t>((p.emin > -126 ? p.emin : -126) + 127) << 23;
  if (shift < 1 || ab > float32_top_bits(p) || (ab < min_bits && ab != 0u)) return false;
  const uint32_t low = (1u << shift) - 1u, half = 1u << (shift - 1);
  if (((sb & low) == (kNearest ? half : 0u) || ab == 0u) && !settle_fma_decision_point<K>(a, b, c, p, sb))
    return false;
  // The bias on the signed pattern: no carry reaches the sign bit, as |s| <= max.
  const bool neg = (sb >> 31) != 0u;
  uint32_t bias = 0;  // TowardZero
  if constexpr (kNearest) bias = half;
  else if constexpr (K == RoundKind::Up) bias = neg ? 0u : low;
  else if constexpr (K == RoundKind::Down) bias = neg ? low : 0u;
  out = bits_float((sb + bias) & ~low);
  return true;
}

/// The exact a * b + c (float32 operands) rounded once to the accumulator format: from the
/// float32 nearest it where round_fma_by_float_bits can, else as mac_round_sum of the exact
/// product (a product of two float32 is exact in double) and c. The same bits either way. A
/// sum x + y of two float32 is mac_round_fma(m, x, 1, y, rnd).
template <RoundKind KA>
QTORCH_HD float mac_round_fma(const MacParams& m, float a, float b, float c, uint32_t rnd) {
  if constexpr (KA != RoundKind::Stochastic) {
    float out;
    if (m.acc.family == QuantFamily::Float && round_fma_by_float_bits<KA>(a, b, c, m.acc, out)) return out;
  }
  return mac_round_sum<KA>(m, static_cast<double>(a) * static_cast<double>(b), static_cast<double>(c), rnd);
}

/// The exact product a * b of two float32 rounded once to the multiply format: a floating
/// format takes the bit rules where they decide, as sums do (the float32 rule on
/// fmaf(a, b, -0), which is a * b rounded to float32 with the product's zero sign; for
/// stochastic rounding the double rule on the product, exact in double, plus 0); anything
/// else takes round_double_to_format of the exact product. The same bits either way.
template <RoundKind KM>
QTORCH_HD float mac_round_product(const MacParams& m, float a, float b, uint32_t rnd) {
  const double p = static_cast<double>(a) * static_cast<double>(b);
  if (m.mul.family == QuantFamily::Float) {
    float out;
    if constexpr (KM == RoundKind::Stochastic) {
      if (round_sum_by_bits<KM>(p, 0.0, m.mul, rnd, out)) return out;
    } else {
      if (round_fma_by_float_bits<KM>(a, b, -0.0f, m.mul, out)) return out;
    }
  }
  uint32_t clamped;
  return round_double_to_format<KM>(p, m.mul, rnd, clamped);
}

/// The random word of a rounding in mode K: word(slot) when K is stochastic, else 0 (the
/// rounding does not read it, and no word is made).
template <RoundKind K, class Word>
QTORCH_HD uint32_t rounding_word(Word& word, int64_t slot) {
  if constexpr (K == RoundKind::Stochastic)
    return word(slot);
  else
    return 0u;
}

/// One output element's multiply-accumulate chain, advanced one k at a time: start from a
/// default-constructed state, call step for k = 0, 1, ..., K - 1 in that order, then
/// finish. Both devices run every chain through it (mac_chain on the CPU; the CUDA kernel
/// steps as operand tiles arrive in shared memory). KM, KA: the multiply and accumulate
/// rounding kinds. word(slot) gives the element's random word for a slot; it is only called
/// for stochastic roundings.
template <RoundKind KM, RoundKind KA>
struct MacState {
  float c = 0.0f;           // the running sum (of the current chunk when chunk-based)
  float comp = 0.0f;        // Kahan's compensation
  float total = 0.0f;       // chunk-based: the sum of the finished chunks
  int64_t chunk_steps = 0;  // chunk-based: steps taken in the current chunk

  /// Takes the operands a = a_ik and b = b_kj of step k.
  template <class Word>
  QTORCH_HD void step(const MacParams& m, int64_t k, float a, float b, Word word) {
    // The product as pa * pb: a * b itself (exact in the sums below), or a * b rounded to
    // the multiply format times 1. FMA takes the exact product.
    float pa = a, pb = b;
    if (m.has_mul && !m.fma) {
      pa = mac_round_product<KM>(m, a, b, rounding_word<KM>(word, mac_slot(m, k, 0)));
      pb = 1.0f;
    }
    if (m.fma || !m.compensated) {
      // c = Qacc(pa * pb + c), one rounding.
      c = mac_round_fma<KA>(m, pa, pb, c, rounding_word<KA>(word, mac_slot(m, k, 1)));
    } else {
      // Kahan: y = Qacc(p - comp); t = Qacc(c + y); comp = Qacc(Qacc(t - c) - y); c = t.
      const float y = mac_round_fma<KA>(m, pa, pb, -comp, rounding_word<KA>(word, mac_slot(m, k, 1)));
      const float t = mac_round_fma<KA>(m, c, 1.0f, y, rounding_word<KA>(word, mac_slot(m, k, 2)));
      const float u = mac_round_fma<KA>(m, t, 1.0f, -c, rounding_word<KA>(word, mac_slot(m, k, 3)));
      comp = mac_round_fma<KA>(m, u, 1.0f, -y, rounding_word<KA>(word, mac_slot(m, k, 4)));
      c = t;
    }
    // Chunk-based: a chunk ends after `chunk` steps or at the last k; its sum (from 0)
    // joins the chunks' total (also from 0) with the sum's rounding at step K + chunk.
    if (m.chunk > 0 && (++chunk_steps == m.chunk || k + 1 == m.K)) {
      total = mac_round_fma<KA>(m, total, 1.0f, c, rounding_word<KA>(word, mac_slot(m, m.K + k / m.chunk, 1)));
      c = 0.0f;
      comp = 0.0f;
      chunk_steps = 0;
    }
  }

  /// The chain's result once step has taken every k (0 when K = 0).
  QTORCH_HD float finish(const MacParams& m) const { return m.chunk > 0 ? total : c; }
};

/// MacState's chain where it is one rounding per step, c = Qacc(a * b + c): no multiply
/// format, no Kahan, no chunks (with or without FMA, which is the same rounding of the exact
/// a * b + c when there is no multiply format). The state is that one float, so a CUDA
/// thread holds several chains in few registers.
template <RoundKind KA>
struct PlainMacState {
  float c = 0.0f;

  /// Whether the options m make MacState's chain this one.
  static QTORCH_HD bool serves(const MacParams& m) { return !m.has_mul && !m.compensated && m.chunk == 0; }

  template <class Word>
  QTORCH_HD void step(const MacParams& m, int64_t k, float a, float b, Word word) {
    c = mac_round_fma<KA>(m, a, b, c, rounding_word<KA>(word, mac_slot(m, k, 1)));
  }
  QTORCH_HD float finish(const MacParams&) const { return c; }
};

/// f(state) with a default state of the chain that the options m make: PlainMacState<KA>
/// where it serves, else MacState<KM, KA>. Both devices' kernels pick their chain with it.
template <RoundKind KM, RoundKind KA, class F>
void with_mac_state(const MacParams& m, F f) {
  if (PlainMacState<KA>::serves(m))
    f(PlainMacState<KA>{});
  else
    f(MacState<KM, KA>{});
}

/// One multiply-accumulate chain of qmatmul for one output element in State (MacState or
/// PlainMacState), generic over how the operands and random words are read: a(k), b(k) give
/// the k-th operands, word(slot) the element's random word for a slot (only called for
/// stochastic roundings).
template <class State, class A, class B, class Word>
QTORCH_HD float mac_chain(const MacParams& m, A a, B b, Word word) {
  State state;
  for (int64_t k = 0; k < m.K; ++k) state.step(m, k, a(k), b(k), word);
  return state.finish(m);
}

}  // namespace qtorch::quant
