// The rounding core shared by every format family and by the CPU and CUDA kernels:
// branch-free QTORCH_HD helpers on float32 bits, so both backends give identical bits.
// Every family reduces to "round |x| to a multiple of 2^q" (round_to_quantum) plus its own
// quantum rule and range rule; the tie rule per family comes from kFamilyTraits.
// Keep device-specific code out of this header.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "qtorch/core/hostdevice.h"
#include "qtorch/quant/kernel_params.h"
#include "qtorch/quant/rounding.h"

namespace qtorch::quant {

// ---- the traits table: one row per family ----
struct FamilyTraits {
  const char* name;
  RoundKind nearest;  // what Rounding::Nearest means (the reference's tie rule)
};
inline constexpr FamilyTraits kFamilyTraits[] = {
    {"fixed point", RoundKind::NearestEven},         // nearbyint
    {"floating point", RoundKind::NearestAway},      // add half an ulp to the bits
    {"block floating point", RoundKind::NearestUp},  // add half after a positive rebase
    {"MX", RoundKind::NearestAway},                   // microxcaling's "nearest"
    {"NVFP4", RoundKind::NearestAway},                // as MX and floating point
};

inline constexpr RoundKind round_kind(QuantFamily family, Rounding rounding) {
  switch (rounding) {
    case Rounding::Stochastic:
      return RoundKind::Stochastic;
    case Rounding::Nearest:
      return kFamilyTraits[static_cast<int>(family)].nearest;
    case Rounding::NearestEven:
      return RoundKind::NearestEven;
    case Rounding::TowardZero:
      return RoundKind::TowardZero;
    case Rounding::Up:
      return RoundKind::Up;
    case Rounding::Down:
      return RoundKind::Down;
  }
  return RoundKind::Stochastic;
}

// ---- float32 bits ----
inline constexpr uint32_t kSignBit = 0x80000000u;
inline constexpr uint32_t kAbsMask = 0x7fffffffu;
inline constexpr uint32_t kInfBits = 0x7f800000u;
inline constexpr uint32_t kNaNBits = 0x7fc00000u;

QTORCH_HD uint32_t float_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}
QTORCH_HD float bits_float(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}
/// Bits of 2^q for -149 <= q <= 127 (a subnormal below -126).
QTORCH_HD uint32_t pow2_bits(int32_t q) {
  return q >= -126 ? static_cast<uint32_t>(q + 127) << 23 : 1u << ((q + 149) & 31);
}

/// Whether the magnitude goes up one quantum. F is the dropped fraction of a quantum as a
/// 32-bit fixed-point number (nonzero exactly when something was dropped), lsb (0/1) the
/// parity of the truncated multiple, neg (0/1) the sign, rnd 32 uniform random bits. Nearest modes
/// go up when F > half - t, t (0/1) saying whether a tie goes up; everything stays integer
/// compares so that the loops vectorise.
template <RoundKind K>
QTORCH_HD bool round_up(uint32_t F, uint32_t lsb, uint32_t neg, uint32_t rnd) {
  constexpr uint32_t kHalf = 0x80000000u;
  // P(up) = F / 2^32: exact when at most 32 bits were dropped (|x| >= 2^(q-8)), else
  // within 2^-32 of exact (F carries a sticky bit).
  if constexpr (K == RoundKind::Stochastic)
    return rnd < F;
  else if constexpr (K == RoundKind::NearestAway)
    return F >= kHalf;
  else if constexpr (K == RoundKind::NearestEven)
    return F > kHalf - lsb;
  else if constexpr (K == RoundKind::NearestUp)
    return F > kHalf - (1u - neg);
  else if constexpr (K == RoundKind::TowardZero)
    return false;
  else if constexpr (K == RoundKind::Up)
    return F > 0u - neg;  // F > 0 when positive
  else
    return F > neg - 1u;  // F > 0 when negative
}

/// True when mode K rounds a value of this sign toward zero (so overflow gives max, not inf).
template <RoundKind K>
QTORCH_HD bool rounds_toward_zero(uint32_t neg) {
  if constexpr (K == RoundKind::TowardZero)
    return true;
  else if constexpr (K == RoundKind::Up)
    return neg != 0u;
  else if constexpr (K == RoundKind::Down)
    return neg == 0u;
  else
    return false;
}

/// The pieces of one rounding to a multiple of 2^q: the result is base, or base + inc when
/// round_up<K>(F, lsb, neg, rnd).
struct QuantumStep {
  uint32_t F;     // the dropped fraction of a quantum as a 32-bit fixed-point number
  uint32_t lsb;   // parity of the truncated multiple
  uint32_t base;  // magnitude bits of the truncated multiple
  uint32_t inc;   // bits to add to go up one quantum
};

/// |x| >= 2^q: drop sh (0..23 after clamping) low bits of the magnitude bits `a`
/// (significand m); a carry moves the exponent.
QTORCH_HD QuantumStep large_step(uint32_t a, uint32_t m, int32_t sh) {
  int32_t s2 = sh < 0 ? 0 : (sh > 23 ? 23 : sh);
  uint32_t mask = (1u << s2) - 1u;
  uint32_t rem = a & mask;
  return {(rem << (31 - s2)) << 1, (m >> s2) & 1u, a & ~mask, mask + 1u};
}

/// |x| < 2^q (sh >= 24): the result is 0 or 2^q (bits `unit`); the fraction is m / 2^sh,
/// past 32 bits with the tail ORed into the last bit (a sticky bit, so F != 0 exactly
/// when something was dropped).
QTORCH_HD QuantumStep small_step(uint32_t m, int32_t sh, uint32_t unit) {
  int32_t up3 = sh - 32 < 31 ? sh - 32 : 31;
  uint32_t sticky = static_cast<uint32_t>((m & ((1u << (up3 & 31)) - 1u)) != 0u);
  uint32_t f3 = sh <= 32 ? m << ((32 - sh) & 31) : (m >> (up3 & 31)) | sticky;
  return {f3, 0u, 0u, unit};
}

/// Rounds the finite magnitude with bits `a` (sign `neg`, 0/1) to a multiple of 2^q with one
/// exact rounding; `unit` = pow2_bits(q), -149 <= q <= 127. Returns magnitude bits; a
/// carry may reach the next binade (or inf past float32's range). Branch = false computes
/// both cases and selects (branch-free, so the CPU's loops vectorise); Branch = true takes
/// only the case at hand (for the GPU, where a warp whose elements agree then does half the
/// work). Both give the same bits: tests/quant/test_branch_paths.cpp.
template <RoundKind K, bool Branch = false>
QTORCH_HD uint32_t round_to_quantum(uint32_t a, uint32_t neg, int32_t q, uint32_t unit,
                                    uint32_t rnd) {
  int32_t be = static_cast<int32_t>(a >> 23);
  uint32_t m = (a & 0x7fffffu) | (be != 0 ? 0x800000u : 0u);  // significand, ulp 2^(max(be,1)-150)
  int32_t sh = q + 150 - (be > 1 ? be : 1);                   // significand bits to drop
  bool small = sh >= 24;                                      // |x| < 2^q: result 0 or 2^q
  QuantumStep st;
  if constexpr (Branch) {
    st = small ? small_step(m, sh, unit) : large_step(a, m, sh);
  } else {
    const QuantumStep s3 = small_step(m, sh, unit), s2 = large_step(a, m, sh);
    st = {small ? s3.F : s2.F, small ? s3.lsb : s2.lsb, small ? s3.base : s2.base, small ? s3.inc : s2.inc};
  }
  return st.base + (st.inc & (0u - static_cast<uint32_t>(round_up<K>(st.F, st.lsb, neg, rnd))));
}

// ---- the families: quantum rule + range rule around round_to_quantum ----

/// Fixed point: grid 2^q, then clamp to [lo, hi]; NaN stays NaN, +-inf clamp.
template <RoundKind K, bool Branch = false>
QTORCH_HD float quantize_fixed(float x, const QuantParams& p, uint32_t rnd, uint32_t& clamped) {
  uint32_t b = float_bits(x);
  uint32_t a = b & kAbsMask;
  uint32_t r = round_to_quantum<K, Branch>(a, b >> 31, p.q, p.unit, rnd);
  r = a >= kInfBits ? a : r;
  float y = bits_float(r | (b & kSignBit));
  bool over = y > p.hi, under = y < p.lo;
  clamped = (over | under) ? 1u : 0u;
  return over ? p.hi : (under ? p.lo : y);
}

/// Fixed point on the floating-point units, for the GPU: the same bits as quantize_fixed<K>
/// when fixed_fp_applies(p). With -126 <= q <= 0, x * 2^-q is exact (scaling up never
/// rounds); every |x| >= 2^(q+23) is already a multiple of 2^q (as are inf and NaN, which
/// keep their bits), so what reaches the rounding is below 2^23 and is rounded exactly;
/// k * 2^q is exact for any integer k <= 2^23 and q >= -126.
/// - NearestEven, NearestAway, TowardZero, Up, Down: a float32 round-to-integer (rint,
///   round, trunc, ceil, floor).
/// - Stochastic: the magnitude's whole part k = floor(|v|) and its dropped fraction
///   d = |v| - k (exact: Sterbenz's lemma for |v| >= 1, k = 0 below); F = floor(d 2^32) with
///   a sticky last bit where d 2^32 is not whole, which is the integer core's F (its
///   large_step drops at most 23 bits, so d 2^32 is whole; small_step truncates and keeps the
///   sticky bit); the magnitude goes up one quantum when rnd < F.
/// About 8 instructions (14 stochastic) instead of the integer core's 40-odd and its branch.
/// tests/quant/test_fixed_fp_path.cpp checks it against quantize_fixed<K> over float32.
QTORCH_HD bool fixed_fp_applies(const QuantParams& p) { return p.q >= -126 && p.q <= 0; }

template <RoundKind K>
inline constexpr bool kHasFixedFpPath = K == RoundKind::NearestEven || K == RoundKind::NearestAway ||
                                        K == RoundKind::TowardZero || K == RoundKind::Up || K == RoundKind::Down ||
                                        K == RoundKind::Stochastic;

/// x rounded to a multiple of 2^q (-126 <= q <= 0, unit_bits = pow2_bits(q)) in mode K on
/// the floating-point units, as round_to_quantum<K> rounds its magnitude (see above); the
/// sign is x's, and an |x| >= 2^(q+23) (inf and NaN too) is returned as it is.
template <RoundKind K>
QTORCH_HD float round_to_multiple_fp(float x, int32_t q, uint32_t unit_bits, uint32_t rnd) {
  static_assert(kHasFixedFpPath<K>, "round_to_multiple_fp: no float32 rule for this rounding");
  const float up = bits_float(static_cast<uint32_t>(127 - q) << 23);  // 2^-q
  const float unit = bits_float(unit_bits);                           // 2^q
  const uint32_t on_grid = static_cast<uint32_t>(q + 23 + 127) << 23; // bits of 2^(q+23)
  const bool kept = (float_bits(x) & kAbsMask) >= on_grid;
  const float v = x * up;
  float k;
  if constexpr (K == RoundKind::Stochastic) {
    const float a = kept ? 0.0f : fabsf(v);  // below 2^23 (a kept x's v may be inf or NaN)
    const float whole = floorf(a);
    const float scaled = (a - whole) * 4294967296.0f;  // d 2^32 < 2^32, exact
    const float truncated = truncf(scaled);
    const uint32_t F = static_cast<uint32_t>(truncated) | (scaled != truncated ? 1u : 0u);
    k = copysignf(whole + (rnd < F ? 1.0f : 0.0f), v);
  } else if constexpr (K == RoundKind::NearestEven) {
    k = rintf(v);
  } else if constexpr (K == RoundKind::NearestAway) {
    k = roundf(v);
  } else if constexpr (K == RoundKind::TowardZero) {
    k = truncf(v);
  } else if constexpr (K == RoundKind::Up) {
    k = ceilf(v);
  } else {
    k = floorf(v);
  }
  return kept ? x : k * unit;
}

template <RoundKind K>
QTORCH_HD float quantize_fixed_fp(float x, const QuantParams& p, uint32_t rnd, uint32_t& clamped) {
  const float y = round_to_multiple_fp<K>(x, p.q, p.unit, rnd);
  const bool over = y > p.hi, under = y < p.lo;
  clamped = (over | under) ? 1u : 0u;
  return over ? p.hi : (under ? p.lo : y);
}

/// Floating point: quantum 2^(e - man) in binade e >= emin, 2^qsub below (|x| < 2^emin);
/// overflow per the range rule; NaN stays NaN.
/// The range rule of floating point after rounding: `r` is the rounded magnitude bits of
/// x (bits b, magnitude bits a); overflow per the format (max or inf/NaN); NaN stays NaN.
template <RoundKind K>
QTORCH_HD float float_range_rule(uint32_t b, uint32_t a, uint32_t r, const QuantParams& p, uint32_t& clamped) {
  const uint32_t neg = b >> 31;
  bool is_inf = a == kInfBits, finite = a < kInfBits;
  bool over = finite & (r > p.max_bits);
  uint32_t ovf = rounds_toward_zero<K>(neg) ? p.max_bits : p.ovf_bits;
  uint32_t out = finite ? (over ? ovf : r) : (is_inf ? p.inf_bits : a);
  clamped = (over | (is_inf & (p.inf_bits != kInfBits))) ? 1u : 0u;
  return bits_float(out | (b & kSignBit));
}

template <RoundKind K>
QTORCH_HD float quantize_float(float x, const QuantParams& p, uint32_t rnd, uint32_t& clamped) {
  uint32_t b = float_bits(x);
  uint32_t a = b & kAbsMask;
  uint32_t neg = b >> 31;
  int32_t be = static_cast<int32_t>(a >> 23);
  // A float32 subnormal (be = 0) is below 2^-126 <= 2^emin, so it takes qsub: reading it
  // as binade -126 would keep it on the normal grid when emin = -126 without subnormals.
  int32_t e = be - 127;
  int32_t q = e >= p.emin ? e - p.man : p.qsub;
  uint32_t r = round_to_quantum<K>(a, neg, q, p.unit, rnd);
  return float_range_rule<K>(b, a, r, p, clamped);
}

/// The magnitude bits a of a float32 normal rounded in mode K by dropping its s2 lowest
/// significand bits (0 <= s2 <= 23): round_to_quantum<K> for a quantum of 2^(e - 23 + s2) in
/// a's binade e, as a fixed mask and a compare (a carry moves to the next binade).
template <RoundKind K>
QTORCH_HD uint32_t round_low_bits(uint32_t a, uint32_t neg, int32_t s2, uint32_t rnd) {
  const uint32_t mask = (1u << s2) - 1u;
  const uint32_t F = ((a & mask) << (31 - s2)) << 1;
  const uint32_t lsb = (((a & 0x7fffffu) | 0x800000u) >> s2) & 1u;
  return (a & ~mask) + ((mask + 1u) & (0u - static_cast<uint32_t>(round_up<K>(F, lsb, neg, rnd))));
}

/// quantize_float with a branch for the common case, for the GPU: in a binade e >= emin
/// of a float32 normal the quantum 2^(e - man) drops exactly 23 - man bits of the
/// magnitude, so the rounding is a fixed mask and a compare (about a third of
/// round_to_quantum's instructions); anything else takes round_to_quantum. Branches
/// instead of selects: a warp whose values are all normal skips the general core (the CPU's
/// vectorised loops want quantize_float's selects). The same bits as quantize_float<K>:
/// tests/quant/test_float_split_path.cpp.
template <RoundKind K>
QTORCH_HD float quantize_float_split(float x, const QuantParams& p, uint32_t rnd, uint32_t& clamped) {
  const uint32_t b = float_bits(x);
  const uint32_t a = b & kAbsMask;
  const uint32_t neg = b >> 31;
  const int32_t be = static_cast<int32_t>(a >> 23);
  const int32_t e = be - 127;
  uint32_t r;
  if (e >= p.emin && be >= 1) {
    r = round_low_bits<K>(a, neg, 23 - p.man, rnd);
  } else {
    r = round_to_quantum<K, true>(a, neg, e >= p.emin ? e - p.man : p.qsub, p.unit, rnd);
  }
  return float_range_rule<K>(b, a, r, p, clamped);
}

/// One block's scale, from the largest magnitude bits in the block.
struct BlockScale {
  int32_t q;      // quantum exponent E + 2 - wl
  uint32_t unit;  // bits of 2^q
  uint32_t sat;   // magnitude bits of 2^(E+1) - 2^q
  bool nan;       // the block holds NaN or inf: every element becomes NaN
};

/// E = floor(log2(max)) from the exponent field; a zero or subnormal max reads as -126
/// (the exponent float32 gives its subnormals), so the grid is that of the smallest binade.
QTORCH_HD BlockScale block_scale(uint32_t max_abs_bits, int32_t wl) {
  int32_t be = static_cast<int32_t>(max_abs_bits >> 23);
  int32_t E = (be > 1 ? be : 1) - 127;
  BlockScale s;
  s.nan = max_abs_bits >= kInfBits;
  s.q = E + 2 - wl;
  s.unit = pow2_bits(s.q);
  uint32_t ones = ((1u << (wl - 2)) - 1u) << (25 - wl);  // wl - 2 mantissa bits set
  s.sat = (static_cast<uint32_t>(E + 127) << 23) | ones;
  return s;
}

/// Block floating point: grid 2^q of the block, saturate to +-(2^(E+1) - 2^q).
template <RoundKind K, bool Branch = false>
QTORCH_HD float quantize_block(float x, const BlockScale& s, uint32_t rnd, uint32_t& clamped) {
  uint32_t b = float_bits(x);
  uint32_t a = b & kAbsMask;
  uint32_t r = round_to_quantum<K, Branch>(a, b >> 31, s.q, s.unit, rnd);
  bool over = r > s.sat;
  clamped = (over & !s.nan) ? 1u : 0u;
  uint32_t out = s.nan ? kNaNBits : ((over ? s.sat : r) | (b & kSignBit));
  return bits_float(out);
}

/// Block floating point on the floating-point units, for the GPU: the same bits as
/// quantize_block<K> when block_fp_applies(s) (round_to_multiple_fp's rule; an element of a
/// block without NaN or inf is finite). tests/quant/test_fixed_fp_path.cpp checks it.
QTORCH_HD bool block_fp_applies(const BlockScale& s) { return s.q >= -126 && s.q <= 0; }

template <RoundKind K>
QTORCH_HD float quantize_block_fp(float x, const BlockScale& s, uint32_t rnd, uint32_t& clamped) {
  const uint32_t r = float_bits(round_to_multiple_fp<K>(x, s.q, s.unit, rnd)) & kAbsMask;
  const bool over = r > s.sat;
  clamped = (over & !s.nan) ? 1u : 0u;
  return bits_float(s.nan ? kNaNBits : ((over ? s.sat : r) | (float_bits(x) & kSignBit)));
}

/// A finite nonzero input that came out zero.
QTORCH_HD bool flushed_to_zero(float x, float y) {
  uint32_t a = float_bits(x) & kAbsMask;
  return (a != 0) & (a < kInfBits) & ((float_bits(y) & kAbsMask) == 0);
}

}  // namespace qtorch::quant
