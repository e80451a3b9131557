// The AVX-512 qmatmul kernel in float32 lanes (QTORCH_QUANT_AVX512 builds): sixteen output
// elements of a row at once, bit-identical to mac_chain of quant/mac_core.h for floating
// multiply and accumulate formats at least a bit coarser than float32 (man <= 22) and every
// rounding mode but stochastic.
//
// Every rounding of the chain is of an exact a * b + c of float32 values (a rounded product
// is a * b + (-0), a sum x + y is x * 1 + y), and per lane it applies
// round_fma_by_float_bits' rule: s = fma(a, b, c) is the float32 nearest the exact value,
// and where s is normal, at most the format's largest value and not one of the rounding's
// decision points, the rounding drops the 23 - man low bits of s's pattern with a bias. A
// vector with any other live lane (zero, below 2^emin, overflow, infinity, NaN, a decision
// point) takes that rounding in doubles instead (sum_round_lanes of
// quant/cpu/qmatmul_fast.h: the exact product is a double, and the sum goes through the
// double rule or the exact round-to-odd path), which gives the same bits on every lane.
#pragma once

#include "qtorch/quant/cpu/qmatmul_fast.h"

#if QTORCH_QUANT_AVX512
#include <algorithm>
#include <cmath>
#include <vector>

namespace qtorch::quant::cpu {

/// Whether mac_float_lanes computes the chain with these parameters: floating formats at
/// least a bit coarser than float32, no stochastic rounding.
inline bool qmatmul_float_lanes_supported(const MacParams& m) {
  return qmatmul_fast_supported(m) && m.acc.man <= 22 && (!m.has_mul || m.mul.man <= 22);
}

/// A format's constants for the float32 bit rule, in 32-bit lanes.
struct FloatFormat {
  __m512i low;       // the 23 - man bits below the format's grid
  __m512i point;     // the low bits of a decision point: half a step (nearest), 0 (directed)
  __m512i lsb_mask;  // nearest even's ties: 1 where the kept lsb is s's bit 23 - man, 0
                     // where it is the implicit bit (man = 0)
  __m512i tie_bias;  // nearest even: the bias before the kept lsb's (half a step less one;
                     // half a step when man = 0, whose kept lsb, the implicit bit, is odd)
  __m128i shift;     // 23 - man
  __m512i max_bits;  // the largest value's magnitude bits within float32 (float32_top_bits)
  __m512i min_bits;  // 2^max(emin, -126): below it the grid is not 2^(e - man)
  template <RoundKind K>
  static FloatFormat of(const QuantParams& p) {
    constexpr bool kNearest = K == RoundKind::NearestEven || K == RoundKind::NearestAway || K == RoundKind::NearestUp;
    const int shift = 23 - p.man;
    const uint32_t half = 1u << (shift - 1);
    FloatFormat f;
    f.low = _mm512_set1_epi32(static_cast<int32_t>((1u << shift) - 1u));
    f.point = _mm512_set1_epi32(kNearest ? static_cast<int32_t>(half) : 0);
    f.lsb_mask = _mm512_set1_epi32(p.man == 0 ? 0 : 1);
    f.tie_bias = _mm512_set1_epi32(static_cast<int32_t>(p.man == 0 ? half : half - 1u));
    f.shift = _mm_cvtsi32_si128(shift);
    f.max_bits = _mm512_set1_epi32(static_cast<int32_t>(float32_top_bits(p)));
    f.min_bits = _mm512_set1_epi32(((p.emin > -126 ? p.emin : -126) + 127) << 23);
    return f;
  }
};

/// The float32 patterns sb rounded to format f in mode K by the bit rule: a bias added below
/// the kept bits, which are then cleared. The bias goes on the signed pattern (no carry
/// reaches the sign bit from a magnitude at most max): the directed modes add a whole step
/// less one where they round away from zero; the nearest modes add half a step, which
/// breaks no tie (kTies false: the caller has moved ties off their midpoints), or add the
/// mode's tie-breaking bias (kTies true: even, away from zero, toward +inf).
template <RoundKind K, bool kTies>
[[gnu::always_inline]] inline __m512 round_bits_lanes(__m512i sb, const FloatFormat& f) {
  __m512i bias;
  if constexpr (K == RoundKind::TowardZero)
    bias = _mm512_setzero_si512();
  else if constexpr (K == RoundKind::Up)
    bias = _mm512_andnot_si512(_mm512_srai_epi32(sb, 31), f.low);
  else if constexpr (K == RoundKind::Down)
    bias = _mm512_and_si512(_mm512_srai_epi32(sb, 31), f.low);
  else if constexpr (!kTies || K == RoundKind::NearestAway)
    bias = f.point;
  else if constexpr (K == RoundKind::NearestUp)
    bias = _mm512_sub_epi32(f.point, _mm512_srli_epi32(sb, 31));
  else
    bias = _mm512_add_epi32(f.tie_bias, _mm512_and_si512(_mm512_srl_epi32(sb, f.shift), f.lsb_mask));
  return _mm512_castsi512_ps(_mm512_andnot_si512(f.low, _mm512_add_epi32(sb, bias)));
}

/// Qacc(a * b + c) on sixteen lanes through the double kernel's rule: the exact products
/// as doubles, then sum_round_lanes on each half.
template <RoundKind K>
[[gnu::noinline]] __m512 fma_round_lanes_in_doubles(__m512 a, __m512 b, __m512 c, const DoubleFormat& acc) {
  const auto half = [&](__m256 ah, __m256 bh, __m256 ch) {
    const __m512d p = _mm512_mul_pd(_mm512_cvtps_pd(ah), _mm512_cvtps_pd(bh));  // exact
    // A format value: exact in float32.
    return _mm512_cvtpd_ps(sum_round_lanes<K>(_mm512_cvtps_pd(ch), p, acc));
  };
  const __m256 lo = half(_mm512_castps512_ps256(a), _mm512_castps512_ps256(b), _mm512_castps512_ps256(c));
  const __m256 hi = half(_mm512_extractf32x8_ps(a, 1), _mm512_extractf32x8_ps(b, 1), _mm512_extractf32x8_ps(c, 1));
  return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}

/// Where s = fma(a, b, c) (bit pattern sb) is zero or on a decision point (lanes
/// `special`), moves s to where the bit rule with fma_round_lanes' bias (half a step for
/// every nearest mode) gives the exact a * b + c's rounding. An exact zero stays, and so
/// does an exact grid value under a directed mode. An exact tie moves one float32 step in
/// the direction its mode breaks it. A special s that is not the exact value moves one
/// float32 step toward it: the exact value lies strictly between the two, with no decision
/// point between it and the new s, since decision points are at least two float32 steps
/// apart (man <= 22). The exact error comes from TwoSum of the product and c, so it needs
/// the product exact in float32 on those lanes (its error zero, and the product at least
/// 2^-100, one operand zero or b one, so that no error is lost below float32's range).
/// False, with sb unchanged, where it is not, or where a move leaves [2^emin, max].
template <RoundKind K>
[[gnu::noinline]] bool move_special_lanes(__m512 a, __m512 b, __m512 c, __mmask16 special, const FloatFormat& f,
                                          __m512i& sb) {
  constexpr bool kNearest = K == RoundKind::NearestEven || K == RoundKind::NearestAway || K == RoundKind::NearestUp;
  const __m512 zero = _mm512_setzero_ps();
  const __m512 p = _mm512_mul_ps(a, b);
  const __mmask16 exact_product =
      _mm512_cmp_ps_mask(_mm512_fmsub_ps(a, b, p), zero, _CMP_EQ_OQ) &
      (_mm512_cmp_ps_mask(_mm512_abs_ps(p), _mm512_set1_ps(0x1p-100f), _CMP_GE_OQ) |
       _mm512_cmp_ps_mask(a, zero, _CMP_EQ_OQ) | _mm512_cmp_ps_mask(b, zero, _CMP_EQ_OQ) |
       _mm512_cmp_ps_mask(b, _mm512_set1_ps(1.0f), _CMP_EQ_OQ));
  if (special & ~exact_product) return false;
  // TwoSum: e = p + c - s exactly (s finite), unless s - p overflows (c off the format's
  // grid near float32's max): then e is not finite, and the doubles decide.
  const __m512 s = _mm512_castsi512_ps(sb);
  const __m512 bb = _mm512_sub_ps(s, p);
  const __m512 e = _mm512_add_ps(_mm512_sub_ps(p, _mm512_sub_ps(s, bb)), _mm512_sub_ps(c, bb));
  if (special & ~_mm512_cmp_ps_mask(_mm512_abs_ps(e), _mm512_set1_ps(INFINITY), _CMP_LT_OQ)) return false;
  const __mmask16 nonzero = _mm512_cmp_ps_mask(s, zero, _CMP_NEQ_UQ);
  const __mmask16 inexact = special & _mm512_cmp_ps_mask(e, zero, _CMP_NEQ_UQ);
  // Up in magnitude: an inexact s whose error has its sign, and exact ties broken away
  // from zero.
  __mmask16 up = inexact & static_cast<__mmask16>(~_mm512_movepi32_mask(_mm512_xor_si512(_mm512_castps_si512(e), sb)));
  __mmask16 down = inexact & ~up;
  if constexpr (kNearest) {
    const __mmask16 tie = special & nonzero & ~inexact;
    __mmask16 away;
    if constexpr (K == RoundKind::NearestAway) {
      away = 0xffffu;
    } else if constexpr (K == RoundKind::NearestUp) {
      away = static_cast<__mmask16>(~_mm512_movepi32_mask(sb));
    } else {
      // Even: away where the kept lsb is odd (the implicit bit when man = 0).
      const __m512i lsb = _mm512_and_si512(_mm512_srl_epi32(sb, f.shift), f.lsb_mask);
      away = _mm512_test_epi32_mask(_mm512_or_si512(lsb, _mm512_andnot_si512(f.lsb_mask, _mm512_set1_epi32(1))),
                                    _mm512_set1_epi32(1));
    }
    up |= tie & away;
    down |= tie & ~away;
  }
  if (!(up | down)) return true;
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i moved = _mm512_mask_sub_epi32(_mm512_mask_add_epi32(sb, up, sb, one), down, sb, one);
  const __m512i ab = _mm512_and_si512(moved, _mm512_set1_epi32(0x7fffffff));
  if (_mm512_mask_cmpgt_epu32_mask(up | down, ab, f.max_bits) | _mm512_mask_cmplt_epu32_mask(up | down, ab, f.min_bits))
    return false;
  sb = moved;
  return true;
}

/// round_fma_by_float_bits<K>'s rule on sixteen lanes: Qacc(a * b + c) for the exact
/// a * b + c, extended to decision points and zeros by move_special_lanes. Lanes outside
/// `live` are ignored; a vector with a live lane that the rule does not take (below
/// 2^emin but not zero, above max, not finite, or special where the product is not exact
/// in float32) is rounded in doubles.
template <RoundKind K>
[[gnu::always_inline]] inline __m512 fma_round_lanes(__m512 a, __m512 b, __m512 c, __mmask16 live, const FloatFormat& f,
                                                     const DoubleFormat& d) {
  static_assert(K != RoundKind::Stochastic, "stochastic rounding needs 32 bits below the grid");
  __m512i sb = _mm512_castps_si512(_mm512_fmadd_ps(a, b, c));
  const __m512i ab = _mm512_and_si512(sb, _mm512_set1_epi32(0x7fffffff));
  const __mmask16 point = _mm512_mask_cmpeq_epi32_mask(live, _mm512_and_si512(sb, f.low), f.point);
  const __mmask16 above = _mm512_mask_cmpgt_epu32_mask(live, ab, f.max_bits);
  const __mmask16 below = _mm512_mask_cmplt_epu32_mask(live, ab, f.min_bits);  // zero included
  if (point | above | below) [[unlikely]] {
    const __mmask16 zero = _mm512_mask_cmpeq_epi32_mask(below, ab, _mm512_setzero_si512());
    if (above || (below & ~zero) || !move_special_lanes<K>(a, b, c, point | zero, f, sb))
      return fma_round_lanes_in_doubles<K>(a, b, c, d);
  }
  return round_bits_lanes<K, false>(sb, f);
}

/// Qacc(x + y) on sixteen lanes for float32 x and y, by rounding to odd: s = x + y with its
/// exact error e from TwoSum, moved one float32 step toward the exact sum where e is not
/// zero and s's last bit is 0. That float has the exact sum's rounding under every mode
/// (ties included, the exact sum being one) when the format keeps at most 22 significant
/// bits, two fewer than float32 (man <= 21): its decision points are then even patterns
/// at least two steps apart. The bit rule then adds the mode's bias, ties included. No
/// branch on the decision points, so no mispredicted one where sums often land on them
/// (short operands). Lanes outside `live` are ignored; a vector with a live lane whose
/// rounded-to-odd sum is nonzero outside [2^emin, max] (or not finite) is rounded in
/// doubles. y must be a value of the format (the kernel's accumulators are): then TwoSum's
/// s - x, within half a float32 step of y, cannot overflow.
template <RoundKind K>
[[gnu::always_inline]] inline __m512 odd_sum_round_lanes(__m512 x, __m512 y, __mmask16 live, const FloatFormat& f,
                                                         const DoubleFormat& d) {
  static_assert(K != RoundKind::Stochastic, "stochastic rounding needs 32 bits below the grid");
  const __m512 s = _mm512_add_ps(x, y);
  const __m512 bb = _mm512_sub_ps(s, x);
  const __m512 e = _mm512_add_ps(_mm512_sub_ps(x, _mm512_sub_ps(s, bb)), _mm512_sub_ps(y, bb));
  __m512i sb = _mm512_castps_si512(s);
  const __m512i one = _mm512_set1_epi32(1);
  // (Ordered: an overflow's NaN error moves nothing, and the infinity goes to doubles.)
  const __mmask16 move = _mm512_mask_testn_epi32_mask(_mm512_cmp_ps_mask(e, _mm512_setzero_ps(), _CMP_NEQ_OQ), sb, one);
  const __mmask16 up = move & static_cast<__mmask16>(~_mm512_movepi32_mask(_mm512_xor_si512(_mm512_castps_si512(e), sb)));
  sb = _mm512_mask_sub_epi32(_mm512_mask_add_epi32(sb, up, sb, one), move & ~up, sb, one);
  const __m512i ab = _mm512_and_si512(sb, _mm512_set1_epi32(0x7fffffff));
  // Outside [2^emin, max] but for zero: ab - 1 wraps zero to the top.
  if (_mm512_mask_cmpgt_epu32_mask(live, ab, f.max_bits) |
      _mm512_mask_cmplt_epu32_mask(live, _mm512_sub_epi32(ab, one), _mm512_sub_epi32(f.min_bits, one))) [[unlikely]]
    return fma_round_lanes_in_doubles<K>(x, _mm512_set1_ps(1.0f), y, d);
  return round_bits_lanes<K, true>(sb, f);
}

/// The lanes of v whose every product with another such value is exact in float32, at
/// least 2^-100 or zero, and below 2^120: zero, or a normal magnitude in [2^-50, 2^60)
/// whose significand fits in 12 bits (fp16, bf16 and the FP8 formats do).
inline __mmask16 short_operand_lanes(__m512 v) {
  const __m512i ab = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff));
  const __m512i lowest = _mm512_set1_epi32((127 - 50) << 23), span = _mm512_set1_epi32(110 << 23);
  return _mm512_testn_epi32_mask(ab, ab) |
         _mm512_mask_cmplt_epu32_mask(_mm512_testn_epi32_mask(ab, _mm512_set1_epi32(0xfff)),
                                      _mm512_sub_epi32(ab, lowest), span);
}

/// Which rows of A ([M, K]) and which groups of sixteen columns of B ([K, N]) hold short
/// operands only (short_operand_lanes): a tile of both has every product exact in float32.
struct ShortOperands {
  std::vector<uint8_t> rows, groups;
  ShortOperands(const float* a, const float* b, const MacParams& m)
      : rows(static_cast<size_t>(m.M), 1), groups(static_cast<size_t>((m.N + 15) / 16), 1) {
    const auto all_short = [](const float* x, int64_t n) {
      for (int64_t j = 0; j < n; j += 16)
        if (short_operand_lanes(_mm512_maskz_loadu_ps(lanes_below(n - j), x + j)) != 0xffffu) return false;
      return true;
    };
    for (int64_t i = 0; i < m.M; ++i) rows[static_cast<size_t>(i)] = all_short(a + i * m.K, m.K);
    for (int64_t k = 0; k < m.K; ++k)
      for (int64_t g = 0; g < static_cast<int64_t>(groups.size()); ++g)
        if (groups[static_cast<size_t>(g)] && !all_short(b + k * m.N + 16 * g, std::min<int64_t>(16, m.N - 16 * g)))
          groups[static_cast<size_t>(g)] = 0;
  }
  /// Whether row i and the `count` groups from column j hold short operands only.
  bool tile(int64_t i, int64_t j, int count) const {
    if (!rows[static_cast<size_t>(i)]) return false;
    for (int64_t g = j / 16; g < j / 16 + count && g < static_cast<int64_t>(groups.size()); ++g)
      if (!groups[static_cast<size_t>(g)]) return false;
    return true;
  }

 private:
  /// The mask of the first min(n, 16) lanes; masked-off lanes load as zero, a short operand.
  static __mmask16 lanes_below(int64_t n) { return n >= 16 ? 0xffffu : static_cast<__mmask16>((1u << n) - 1u); }
};

/// The rounding formats of a chain in both kernels' forms.
struct FloatLanesFormats {
  FloatFormat mul, acc;
  DoubleFormat mul_d, acc_d;
  bool acc_odd;  // the accumulator takes odd_sum_round_lanes (man <= 21)
  template <RoundKind KM, RoundKind KA>
  static FloatLanesFormats of(const MacParams& m) {
    const QuantParams& mul = m.has_mul ? m.mul : m.acc;
    return {FloatFormat::of<KM>(mul), FloatFormat::of<KA>(m.acc), DoubleFormat(mul), DoubleFormat(m.acc),
            m.acc.man <= 21};
  }
};

/// G groups of sixteen chains of one output row, interleaved so that their latencies
/// overlap: out[j] for columns j0 .. j0 + 16 G - 1 of B ([K, N] row-major; b points at
/// column j0 of row 0; the last group has `last_lanes` live lanes). a: the row of A.
/// kPlain: the chain is PlainMacState's, one rounding per step (else MacState's, with a
/// multiply format, Kahan or chunks as m says). kShortOperands (plain chains only): every
/// product is exact in float32 (ShortOperands), and the accumulator has man <= 21, so each
/// step is the product plus c, rounded through odd_sum_round_lanes.
template <RoundKind KM, RoundKind KA, int G, bool kPlain, bool kShortOperands>
inline void mac_float_lanes(const MacParams& m, const FloatLanesFormats& f, const float* a, const float* b,
                            int64_t ldb, float* out, int last_lanes) {
  __mmask16 live[G];
  for (int g = 0; g < G; ++g)
    live[g] = g + 1 < G ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << last_lanes) - 1u);
  // -0 is the addend of a product: x + -0 is x for every x, -0 included.
  const __m512 zero = _mm512_setzero_ps(), minus_zero = _mm512_set1_ps(-0.0f), one = _mm512_set1_ps(1.0f);
  const auto round_acc = [&](__m512 x, __m512 y, __m512 z, int g) {
    return fma_round_lanes<KA>(x, y, z, live[g], f.acc, f.acc_d);
  };
  // Qacc(x + y): rounded to odd where the format allows (no branch on decision points,
  // where Kahan's and a multiply format's sums often land).
  const bool odd_sums = f.acc_odd;
  const auto round_sum = [&](__m512 x, __m512 y, int g) {
    return odd_sums ? odd_sum_round_lanes<KA>(x, y, live[g], f.acc, f.acc_d) : round_acc(x, one, y, g);
  };
  const auto neg = [](__m512 x) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN))); };
  // The chain from k0 to k1 from zero into c (Kahan's y, t, u and compensation as
  // MacState::step).
  const auto run = [&](int64_t k0, int64_t k1, __m512* c) {
    __m512 comp[G];
    for (int g = 0; g < G; ++g) c[g] = comp[g] = zero;
    for (int64_t k = k0; k < k1; ++k) {
      const __m512 ak = _mm512_set1_ps(a[k]);
      for (int g = 0; g < G; ++g) {
        const __m512 bk = _mm512_maskz_loadu_ps(live[g], b + k * ldb + 16 * g);
        if constexpr (kShortOperands) {
          static_assert(kPlain, "short operands: one rounding per step");
          c[g] = odd_sum_round_lanes<KA>(_mm512_mul_ps(ak, bk), c[g], live[g], f.acc, f.acc_d);
          continue;
        } else if constexpr (kPlain) {
          c[g] = round_acc(ak, bk, c[g], g);
          continue;
        }
        __m512 pa = ak, pb = bk;
        if (m.has_mul && !m.fma) {
          pa = fma_round_lanes<KM>(ak, bk, minus_zero, live[g], f.mul, f.mul_d);
          pb = one;
        }
        const bool product_rounded = m.has_mul && !m.fma;
        if (m.fma || !m.compensated) {
          c[g] = product_rounded ? round_sum(pa, c[g], g) : round_acc(pa, pb, c[g], g);
          continue;
        }
        const __m512 y = product_rounded ? round_sum(pa, neg(comp[g]), g) : round_acc(pa, pb, neg(comp[g]), g);
        const __m512 t = round_sum(c[g], y, g);
        const __m512 u = round_sum(t, neg(c[g]), g);
        comp[g] = round_sum(u, neg(y), g);
        c[g] = t;
      }
    }
  };
  __m512 total[G];
  if (kPlain || m.chunk <= 0) {
    run(0, m.K, total);
  } else {
    __m512 part[G];
    for (int g = 0; g < G; ++g) total[g] = zero;
    for (int64_t k0 = 0; k0 < m.K; k0 += m.chunk) {
      run(k0, k0 + m.chunk < m.K ? k0 + m.chunk : m.K, part);
      for (int g = 0; g < G; ++g) total[g] = round_sum(total[g], part[g], g);
    }
  }
  for (int g = 0; g < G; ++g) _mm512_mask_storeu_ps(out + 16 * g, live[g], total[g]);
}

}  // namespace qtorch::quant::cpu

#endif
