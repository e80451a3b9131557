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

namespace qtorch::quant::cpu {

/// Whether mac_float_lanes computes the chain with these parameters: floating formats at
/// least a bit coarser than float32, no stochastic rounding.
inline bool qmatmul_float_lanes_supported(const MacParams& m) {
  return qmatmul_fast_supported(m) && m.acc.man <= 22 && (!m.has_mul || m.mul.man <= 22);
}

/// The accumulator's constants for the float32 bit rule, in 32-bit lanes.
struct FloatFormat {
  __m512i low;       // the 23 - man bits below the format's grid
  __m512i point;     // the low bits of a decision point: half a step (nearest), 0 (directed)
  __m512i abs;       // the magnitude bits
  __m512i max_bits;  // the largest value's magnitude bits
  __m512i min_bits;  // 2^max(emin, -126): below it the grid is not 2^(e - man)
  template <RoundKind K>
  static FloatFormat of(const QuantParams& p) {
    constexpr bool kNearest = K == RoundKind::NearestEven || K == RoundKind::NearestAway || K == RoundKind::NearestUp;
    const int shift = 23 - p.man;
    FloatFormat f;
    f.low = _mm512_set1_epi32(static_cast<int32_t>((1u << shift) - 1u));
    f.point = _mm512_set1_epi32(kNearest ? static_cast<int32_t>(1u << (shift - 1)) : 0);
    f.abs = _mm512_set1_epi32(0x7fffffff);
    f.max_bits = _mm512_set1_epi32(static_cast<int32_t>(p.max_bits));
    f.min_bits = _mm512_set1_epi32(((p.emin > -126 ? p.emin : -126) + 127) << 23);
    return f;
  }
};

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

/// round_fma_by_float_bits<K>'s rule on sixteen lanes: Qacc(a * b + c) for the exact
/// a * b + c. Lanes outside `live` are ignored; a vector with a live lane that the rule does
/// not take is rounded in doubles.
template <RoundKind K>
[[gnu::always_inline]] inline __m512 fma_round_lanes(__m512 a, __m512 b, __m512 c, __mmask16 live, const FloatFormat& f,
                                                     const DoubleFormat& d) {
  static_assert(K != RoundKind::Stochastic, "stochastic rounding needs 32 bits below the grid");
  const __m512i sb = _mm512_castps_si512(_mm512_fmadd_ps(a, b, c));
  const __m512i ab = _mm512_and_si512(sb, f.abs);
  const __mmask16 rare = _mm512_mask_cmpeq_epi32_mask(live, _mm512_and_si512(sb, f.low), f.point) |
                         _mm512_mask_cmpgt_epu32_mask(live, ab, f.max_bits) |
                         _mm512_mask_cmplt_epu32_mask(live, ab, f.min_bits);
  if (rare) [[unlikely]]
    return fma_round_lanes_in_doubles<K>(a, b, c, d);
  // The bias on the signed pattern: no carry reaches the sign bit, as |s| <= max. Off the
  // decision points every nearest mode adds half a step, and the directed modes add a
  // whole step less one where they round away from zero.
  __m512i bias;
  if constexpr (K == RoundKind::TowardZero)
    bias = _mm512_setzero_si512();
  else if constexpr (K == RoundKind::Up)
    bias = _mm512_andnot_si512(_mm512_srai_epi32(sb, 31), f.low);
  else if constexpr (K == RoundKind::Down)
    bias = _mm512_and_si512(_mm512_srai_epi32(sb, 31), f.low);
  else
    bias = f.point;
  return _mm512_castsi512_ps(_mm512_andnot_si512(f.low, _mm512_add_epi32(sb, bias)));
}

/// The rounding formats of a chain in both kernels' forms.
struct FloatLanesFormats {
  FloatFormat mul, acc;
  DoubleFormat mul_d, acc_d;
  template <RoundKind KM, RoundKind KA>
  static FloatLanesFormats of(const MacParams& m) {
    const QuantParams& mul = m.has_mul ? m.mul : m.acc;
    return {FloatFormat::of<KM>(mul), FloatFormat::of<KA>(m.acc), DoubleFormat(mul), DoubleFormat(m.acc)};
  }
};

/// G groups of sixteen chains of one output row, interleaved so that their latencies
/// overlap: out[j] for columns j0 .. j0 + 16 G - 1 of B ([K, N] row-major; b points at
/// column j0 of row 0; the last group has `last_lanes` live lanes). a: the row of A.
/// kPlain: the chain is PlainMacState's, one rounding per step (else MacState's, with a
/// multiply format, Kahan or chunks as m says).
template <RoundKind KM, RoundKind KA, int G, bool kPlain>
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
        if constexpr (kPlain) {
          c[g] = round_acc(ak, bk, c[g], g);
          continue;
        }
        __m512 pa = ak, pb = bk;
        if (m.has_mul && !m.fma) {
          pa = fma_round_lanes<KM>(ak, bk, minus_zero, live[g], f.mul, f.mul_d);
          pb = one;
        }
        if (m.fma || !m.compensated) {
          c[g] = round_acc(pa, pb, c[g], g);
          continue;
        }
        const __m512 y = round_acc(pa, pb, neg(comp[g]), g);
        const __m512 t = round_acc(c[g], one, y, g);
        const __m512 u = round_acc(t, one, neg(c[g]), g);
        comp[g] = round_acc(u, one, neg(y), g);
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
      for (int g = 0; g < G; ++g) total[g] = round_acc(total[g], one, part[g], g);
    }
  }
  for (int g = 0; g < G; ++g) _mm512_mask_storeu_ps(out + 16 * g, live[g], total[g]);
}

}  // namespace qtorch::quant::cpu

#endif
