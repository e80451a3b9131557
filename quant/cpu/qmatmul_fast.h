// The AVX-512 qmatmul kernel (QTORCH_QUANT_AVX512 builds): eight output elements of a row
// at once, in doubles, bit-identical to mac_chain of quant/mac_core.h for floating-point
// multiply and accumulate formats and every rounding mode but stochastic. Per lane it
// does what the core does: the exact product, TwoSum, round-to-odd, then one rounding to
// the format; the rounding drops 52 - man bits of the double's bit pattern (with a bias
// that carries into the exponent), and below 2^emin rounds on the grid 2^qsub by adding
// and subtracting 2^(qsub + 52) under the matching IEEE rounding direction.
#pragma once

#include "qtorch/quant/cpu/fast_kernels.h"

#if QTORCH_QUANT_AVX512
#include <limits>

#include "qtorch/quant/mac_core.h"

namespace qtorch::quant::cpu {

/// Whether the vector kernel computes a chain with these parameters.
inline bool qmatmul_fast_supported(const MacParams& m) {
  auto ok = [](const QuantParams& p) {
    return p.family == QuantFamily::Float && p.kind != RoundKind::Stochastic && p.man <= 50 &&
           p.qsub >= -149;
  };
  return ok(m.acc) && (!m.has_mul || ok(m.mul));
}

/// One floating format's constants in 64-bit lanes.
struct DoubleFormat {
  __m512i low, half, half_minus_one, one, implicit, abs;
  __m128i shift;
  __m512d sub_below;  // 2^emin: below it the grid is 2^qsub
  __m512i sub_below_bits;
  __m512d magic;      // 2^(qsub + 52)
  __m512d unit;       // 2^qsub
  __m512d max, ovf, inf;  // largest value within float32 (float32_top_bits), what an overflow gives, what an inf gives
  __m512i max_bits;
  bool top;  // man == 0: the kept significand is the implicit bit alone
  explicit DoubleFormat(const QuantParams& p) {
    const int s = 52 - p.man;
    low = _mm512_set1_epi64(static_cast<int64_t>((uint64_t{1} << s) - 1u));
    half = _mm512_set1_epi64(static_cast<int64_t>(uint64_t{1} << (s - 1)));
    half_minus_one = _mm512_set1_epi64(static_cast<int64_t>((uint64_t{1} << (s - 1)) - 1u));
    one = _mm512_set1_epi64(1);
    implicit = _mm512_set1_epi64(static_cast<int64_t>(uint64_t{1} << 52));
    abs = _mm512_set1_epi64(0x7fffffffffffffffLL);
    shift = _mm_cvtsi32_si128(s);
    sub_below = _mm512_set1_pd(pow2_double(p.emin));
    sub_below_bits = _mm512_set1_epi64(static_cast<int64_t>(double_bits(pow2_double(p.emin))));
    magic = _mm512_set1_pd(pow2_double(p.qsub + 52));
    unit = _mm512_set1_pd(pow2_double(p.qsub));
    max = _mm512_set1_pd(static_cast<double>(bits_float(float32_top_bits(p))));
    max_bits = _mm512_set1_epi64(static_cast<int64_t>(double_bits(static_cast<double>(bits_float(float32_top_bits(p))))));
    ovf = _mm512_set1_pd(static_cast<double>(bits_float(p.ovf_bits)));
    inf = _mm512_set1_pd(static_cast<double>(bits_float(p.inf_bits)));
    top = p.man == 0;
  }
};

inline constexpr int kRoundDown = _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC;
inline constexpr int kRoundUp = _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC;
inline constexpr int kRoundNearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
inline constexpr int kRoundZero = _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC;

/// The lanes round_lanes' bit rule does not cover: nonzero magnitudes below 2^emin (the
/// grid 2^qsub, by 2^(qsub+52) added under the mode's direction), finite overflow,
/// infinities and NaN. a: the magnitudes, r: the bit rule's result, neg: the signs.
template <RoundKind K>
[[gnu::noinline]] __m512d fix_unusual_lanes(__m512d a, __m512d r, __mmask8 neg, const DoubleFormat& f) {
  const __mmask8 sub = _mm512_cmp_pd_mask(a, f.sub_below, _CMP_LT_OQ);
  if (sub) {
    __m512d t;
    if constexpr (K == RoundKind::NearestEven) {
      t = _mm512_sub_round_pd(_mm512_add_round_pd(a, f.magic, kRoundNearest), f.magic, kRoundNearest);
    } else {
      const __m512d down = _mm512_sub_round_pd(_mm512_add_round_pd(a, f.magic, kRoundZero), f.magic, kRoundNearest);
      const __m512d up = _mm512_sub_round_pd(_mm512_add_round_pd(a, f.magic, kRoundUp), f.magic, kRoundNearest);
      if constexpr (K == RoundKind::TowardZero) {
        t = down;
      } else if constexpr (K == RoundKind::Up) {
        t = _mm512_mask_blend_pd(neg, up, down);
      } else if constexpr (K == RoundKind::Down) {
        t = _mm512_mask_blend_pd(neg, down, up);
      } else {
        // Nearest with ties away (or toward +inf): twice the dropped part against the unit.
        const __m512d dd = _mm512_sub_pd(a, down);
        const __m512d twice = _mm512_add_pd(dd, dd);
        __mmask8 go_up = _mm512_cmp_pd_mask(twice, f.unit, _CMP_GT_OQ);
        const __mmask8 tie = _mm512_cmp_pd_mask(twice, f.unit, _CMP_EQ_OQ);
        if constexpr (K == RoundKind::NearestAway) go_up |= tie;
        else go_up |= static_cast<__mmask8>(tie & ~neg);
        t = _mm512_mask_blend_pd(go_up, down, up);
      }
    }
    r = _mm512_mask_mov_pd(r, sub, t);
  }
  const __m512d inf = _mm512_set1_pd(HUGE_VAL);
  const __mmask8 finite = _mm512_cmp_pd_mask(a, inf, _CMP_LT_OQ);
  const __mmask8 over = _mm512_mask_cmp_pd_mask(finite, r, f.max, _CMP_GT_OQ);
  __m512d ovf;
  if constexpr (K == RoundKind::TowardZero) ovf = f.max;
  else if constexpr (K == RoundKind::Up) ovf = _mm512_mask_blend_pd(neg, f.ovf, f.max);
  else if constexpr (K == RoundKind::Down) ovf = _mm512_mask_blend_pd(neg, f.max, f.ovf);
  else ovf = f.ovf;
  r = _mm512_mask_mov_pd(r, over, ovf);
  r = _mm512_mask_mov_pd(r, _mm512_cmp_pd_mask(a, inf, _CMP_EQ_OQ), f.inf);
  // NaN: the canonical quiet NaN, as the core returns.
  return _mm512_mask_mov_pd(r, _mm512_cmp_pd_mask(a, a, _CMP_UNORD_Q),
                            _mm512_set1_pd(std::numeric_limits<double>::quiet_NaN()));
}

/// round_double_to_format<K> (Float family, K not stochastic) on eight lanes. In the
/// format's normal range the rounding drops the low bits of the pattern with a bias; the
/// modes that treat both signs alike (nearest, toward zero) apply it to the signed pattern
/// (no carry reaches the sign bit from a finite value), Up and Down to the magnitude.
template <RoundKind K>
[[gnu::always_inline]] inline __m512d round_lanes(__m512d d, const DoubleFormat& f) {
  const __m512i bits = _mm512_castpd_si512(d);
  const __m512i ab = _mm512_and_si512(bits, f.abs);
  constexpr bool kSigned = K != RoundKind::Up && K != RoundKind::Down;
  const __m512i base = kSigned ? bits : ab;
  __m512i biased;
  if constexpr (K == RoundKind::NearestAway) {
    biased = _mm512_add_epi64(base, f.half);
  } else if constexpr (K == RoundKind::NearestEven) {
    const __m512i lsb = f.top ? _mm512_maskz_mov_epi64(_mm512_cmpge_epu64_mask(ab, f.implicit), f.one)
                              : _mm512_and_si512(_mm512_srl_epi64(base, f.shift), f.one);
    biased = _mm512_add_epi64(_mm512_add_epi64(base, f.half_minus_one), lsb);
  } else if constexpr (K == RoundKind::NearestUp) {
    biased = _mm512_sub_epi64(_mm512_add_epi64(base, f.half), _mm512_srli_epi64(bits, 63));
  } else if constexpr (K == RoundKind::TowardZero) {
    biased = base;
  } else if constexpr (K == RoundKind::Up) {
    biased = _mm512_add_epi64(base, _mm512_andnot_si512(_mm512_srai_epi64(bits, 63), f.low));
  } else {
    biased = _mm512_add_epi64(base, _mm512_and_si512(_mm512_srai_epi64(bits, 63), f.low));
  }
  __m512i rb = _mm512_andnot_si512(f.low, biased);
  if constexpr (!kSigned) rb = _mm512_or_si512(rb, _mm512_andnot_si512(f.abs, bits));
  // Rare lanes: magnitudes above max (overflow, inf, NaN) or nonzero below 2^emin.
  const __mmask8 unusual =
      _mm512_cmpgt_epu64_mask(ab, f.max_bits) |
      _mm512_cmplt_epu64_mask(_mm512_sub_epi64(ab, f.one), _mm512_sub_epi64(f.sub_below_bits, f.one));
  if (unusual) [[unlikely]] {
    const __m512d r = fix_unusual_lanes<K>(_mm512_castsi512_pd(ab), _mm512_castsi512_pd(_mm512_and_si512(rb, f.abs)),
                                           _mm512_movepi64_mask(bits), f);
    rb = _mm512_or_si512(_mm512_castpd_si512(r), _mm512_andnot_si512(f.abs, bits));
    // NaN (a NaN input, or an overflow or inf that gives NaN): the quiet NaN with the sign
    // bit clear, as the core gives on every device.
    rb = _mm512_mask_mov_epi64(rb, _mm512_cmp_pd_mask(r, r, _CMP_UNORD_Q),
                               _mm512_castpd_si512(_mm512_set1_pd(std::numeric_limits<double>::quiet_NaN())));
  }
  return _mm512_castsi512_pd(rb);
}

/// -x (the sign bit flipped, as the core's unary minus).
[[gnu::always_inline]] inline __m512d negate(__m512d x) { return _mm512_xor_pd(x, _mm512_set1_pd(-0.0)); }

/// round_to_odd(two_sum(x, y)) on eight lanes: the sum truncated toward zero (one ulp less
/// in magnitude where the error has the other sign), then the last bit set where inexact.
/// A NaN error (an infinite sum) compares unequal to nothing, so infinities pass unchanged.
[[gnu::always_inline]] inline __m512d sum_to_odd(__m512d x, __m512d y) {
  const __m512d s = _mm512_add_pd(x, y);
  const __m512d bb = _mm512_sub_pd(s, x);
  const __m512d e = _mm512_add_pd(_mm512_sub_pd(x, _mm512_sub_pd(s, bb)), _mm512_sub_pd(y, bb));
  const __m512i sb = _mm512_castpd_si512(s);
  const __mmask8 inexact = _mm512_cmp_pd_mask(e, _mm512_setzero_pd(), _CMP_NEQ_OQ);
  const __mmask8 opposite = _mm512_movepi64_mask(_mm512_xor_si512(_mm512_castpd_si512(e), sb)) & inexact;
  const __m512i one = _mm512_set1_epi64(1);
  const __m512i truncated = _mm512_mask_sub_epi64(sb, opposite, sb, one);
  return _mm512_castsi512_pd(_mm512_mask_or_epi64(truncated, inexact, truncated, one));
}

/// round_double_to_format<K>(exact x + y) on eight lanes.
/// The double nearest to the sum, s, serves unless it lies on one of the rounding's
/// decision points: there the exact sum may be on either side, which s cannot tell. Those
/// points are the midpoints between grid values (nearest modes) or the grid values
/// (directed modes); any other double nearest to the sum has it on the same side of every
/// such point, as they are doubles too. So the common case is one add and the bit rule;
/// lanes at a decision point, below 2^emin (where the grid changes), above max or not
/// finite send the vector through the exact round-to-odd sum and round_lanes.
template <RoundKind K>
[[gnu::always_inline]] inline __m512d sum_round_lanes(__m512d x, __m512d y, const DoubleFormat& f) {
  const __m512d s = _mm512_add_pd(x, y);
  const __m512i sb = _mm512_castpd_si512(s);
  const __m512i ab = _mm512_and_si512(sb, f.abs);
  constexpr bool kNearest = K == RoundKind::NearestEven || K == RoundKind::NearestAway || K == RoundKind::NearestUp;
  constexpr bool kSigned = K != RoundKind::Up && K != RoundKind::Down;
  const __m512i point = kNearest ? f.half : _mm512_setzero_si512();
  // (A zero sum counts as below 2^emin here: it only takes the exact path, which is rare.)
  const __mmask8 rare = _mm512_cmpeq_epi64_mask(_mm512_and_si512(sb, f.low), point) |
                        _mm512_cmpgt_epu64_mask(ab, f.max_bits) | _mm512_cmplt_epu64_mask(ab, f.sub_below_bits);
  if (!kSigned || rare) return round_lanes<K>(rare ? sum_to_odd(x, y) : s, f);
  // The bit rule on the signed pattern (no carry reaches the sign bit from a finite value).
  __m512i biased;
  if constexpr (K == RoundKind::NearestAway) {
    biased = _mm512_add_epi64(sb, f.half);
  } else if constexpr (K == RoundKind::NearestEven) {
    const __m512i lsb = f.top ? _mm512_maskz_mov_epi64(_mm512_cmpge_epu64_mask(ab, f.implicit), f.one)
                              : _mm512_and_si512(_mm512_srl_epi64(sb, f.shift), f.one);
    biased = _mm512_add_epi64(_mm512_add_epi64(sb, f.half_minus_one), lsb);
  } else if constexpr (K == RoundKind::NearestUp) {
    biased = _mm512_sub_epi64(_mm512_add_epi64(sb, f.half), _mm512_srli_epi64(sb, 63));
  } else {
    biased = sb;  // toward zero
  }
  return _mm512_castsi512_pd(_mm512_andnot_si512(f.low, biased));
}

/// G groups of eight chains of one output row, interleaved so that the chains' latencies
/// overlap: out[j] for columns j0 .. j0 + 8 G - 1 of B ([K, N] row-major; b points at
/// column j0 of row 0; the last group may have fewer live lanes, `last_lanes`). a: the row of A.
template <RoundKind KM, RoundKind KA, int G>
inline void mac_lanes(const MacParams& m, const DoubleFormat& mul, const DoubleFormat& acc, const float* a,
                      const float* b, int64_t ldb, float* out, int last_lanes) {
  __mmask8 live[G];
  for (int g = 0; g < G; ++g) live[g] = g + 1 < G ? static_cast<__mmask8>(0xff) : static_cast<__mmask8>((1u << last_lanes) - 1u);
  auto run = [&](int64_t k0, int64_t k1, __m512d* c) {
    __m512d comp[G];
    for (int g = 0; g < G; ++g) c[g] = comp[g] = _mm512_setzero_pd();
    for (int64_t k = k0; k < k1; ++k) {
      const __m512d ak = _mm512_set1_pd(static_cast<double>(a[k]));
      for (int g = 0; g < G; ++g) {
        const __m512d bk = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(live[g], b + k * ldb + 8 * g));
        __m512d p = _mm512_mul_pd(ak, bk);  // exact
        if (m.has_mul) p = round_lanes<KM>(p, mul);
        if (!m.compensated) {
          c[g] = sum_round_lanes<KA>(c[g], p, acc);
          continue;
        }
        const __m512d y = sum_round_lanes<KA>(p, negate(comp[g]), acc);
        const __m512d t = sum_round_lanes<KA>(c[g], y, acc);
        const __m512d u = sum_round_lanes<KA>(t, negate(c[g]), acc);
        comp[g] = sum_round_lanes<KA>(u, negate(y), acc);
        c[g] = t;
      }
    }
  };
  __m512d total[G];
  if (m.chunk <= 0) {
    run(0, m.K, total);
  } else {
    __m512d part[G];
    for (int g = 0; g < G; ++g) total[g] = _mm512_setzero_pd();
    for (int64_t k0 = 0; k0 < m.K; k0 += m.chunk) {
      run(k0, k0 + m.chunk < m.K ? k0 + m.chunk : m.K, part);
      for (int g = 0; g < G; ++g) total[g] = sum_round_lanes<KA>(total[g], part[g], acc);
    }
  }
  for (int g = 0; g < G; ++g)
    _mm256_mask_storeu_ps(out + 8 * g, live[g], _mm512_cvtpd_ps(total[g]));  // exact: a float format's values
}

}  // namespace qtorch::quant::cpu

#endif
