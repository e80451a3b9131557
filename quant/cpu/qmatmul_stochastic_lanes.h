// The AVX-512 kernel of qmatmul's one-rounding chain with stochastic rounding
// (QTORCH_QUANT_AVX512 builds): eight chains c = Qacc(a * b + c) of an output row per
// vector of doubles, bit-identical to PlainMacState<Stochastic>'s chain (quant/mac_core.h)
// for a floating accumulator of at most 19 mantissa bits.
//
// Per lane it applies round_sum_by_bits' stochastic rule to the exact product (a double)
// and c: s = p + c, F = the 32 bits of s below the format's grid with a sticky last bit
// (set where a lower bit of s is; where none is, the sum must be exact, which TwoSum's
// error tells), and the rounding goes up where the element's random word is below F. A
// vector with a live lane outside [2^emin, max] (zero, the subnormal grid, overflow,
// infinity, NaN) or with an inexact sum whose low bits are zero takes the core's
// mac_round_sum on each lane. The random words are the scalar chain's: the sum's row of
// element (i, j)'s words (set_mac_word_layout), made 64 at a time for each chain, 256
// steps' worth at a time.
#pragma once

#include "qtorch/quant/cpu/fast_kernels.h"

#if QTORCH_QUANT_AVX512
#include <vector>

#include "qtorch/quant/cpu/philox_simd.h"
#include "qtorch/quant/mac_core.h"

namespace qtorch::quant::cpu {

/// Whether mac_stochastic_lanes computes the chain with these parameters.
inline bool qmatmul_stochastic_lanes_supported(const MacParams& m) {
  return PlainMacState<RoundKind::Stochastic>::serves(m) && m.acc.family == QuantFamily::Float &&
         m.acc.kind == RoundKind::Stochastic && m.acc.man <= 19;
}

/// A floating format's constants for round_sum_by_bits' stochastic rule on doubles.
struct StochasticFormat {
  __m512i low;       // the 52 - man bits of a double below the format's grid
  __m512i below;     // the bits past F's 32
  __m128i f_shift;   // 52 - man - 32
  __m512i min_bits;  // 2^emin
  __m512i max_bits;  // the largest value within float32 (float32_top_bits)
  explicit StochasticFormat(const QuantParams& p) {
    const int shift = 52 - p.man;  // >= 33: man <= 19
    low = _mm512_set1_epi64(static_cast<int64_t>((uint64_t{1} << shift) - 1u));
    below = _mm512_set1_epi64(static_cast<int64_t>((uint64_t{1} << (shift - 32)) - 1u));
    f_shift = _mm_cvtsi32_si128(shift - 32);
    min_bits = _mm512_set1_epi64(static_cast<int64_t>(double_bits(pow2_double(p.emin))));
    max_bits = _mm512_set1_epi64(static_cast<int64_t>(double_bits(static_cast<double>(bits_float(float32_top_bits(p))))));
  }
};

/// round_sum_by_bits<Stochastic>(p, c) on eight lanes with the random words rnd (in the
/// low halves): the lanes `live` it decides are rounded; `rare` gets the live lanes it
/// does not (outside [2^emin, max], or low bits zero and the sum inexact), which the
/// caller rounds through the core.
inline __m512d stochastic_sum_lanes(__m512d p, __m512d c, __m512i rnd, __mmask8 live, const StochasticFormat& f,
                                    __mmask8& rare) {
  const __m512i abs = _mm512_set1_epi64(0x7fffffffffffffffLL), one = _mm512_set1_epi64(1);
  const __m512d s = _mm512_add_pd(p, c);
  // TwoSum's error: zero where the sum is exact.
  const __m512d bb = _mm512_sub_pd(s, p);
  const __m512d e = _mm512_add_pd(_mm512_sub_pd(p, _mm512_sub_pd(s, bb)), _mm512_sub_pd(c, bb));
  const __m512i sb = _mm512_castpd_si512(s), ab = _mm512_and_si512(sb, abs);
  const __mmask8 sticky = _mm512_test_epi64_mask(sb, f.below);
  rare = _mm512_mask_cmpgt_epu64_mask(live, ab, f.max_bits) | _mm512_mask_cmplt_epu64_mask(live, ab, f.min_bits) |
         (static_cast<__mmask8>(~sticky) & _mm512_mask_cmp_pd_mask(live, e, _mm512_setzero_pd(), _CMP_NEQ_UQ));
  const __m512i fraction = _mm512_srl_epi64(_mm512_and_si512(ab, f.low), f.f_shift);
  const __m512i big_f = _mm512_mask_or_epi64(fraction, sticky, fraction, one);  // F
  const __m512i kept = _mm512_andnot_si512(f.low, ab);
  const __m512i r = _mm512_mask_add_epi64(kept, _mm512_cmplt_epu64_mask(rnd, big_f), kept, _mm512_add_epi64(f.low, one));
  return _mm512_castsi512_pd(_mm512_or_si512(r, _mm512_andnot_si512(abs, sb)));
}

/// G groups of eight stochastic chains of one output row i: out[j] for columns
/// j0 .. j0 + 8 G - 1 of B ([K, N] row-major; b points at column j0 of row 0; the last
/// group has `last_lanes` live lanes). a: the row of A. words: scratch for the chains'
/// random words.
template <int G>
inline void mac_stochastic_lanes(const MacParams& m, const float* a, const float* b, float* out, int64_t i, int64_t j0,
                                 int last_lanes, uint64_t seed, uint64_t offset, std::vector<uint32_t>& words) {
  constexpr int kLanes = 8 * G;
  constexpr int64_t kSteps = 256;  // steps whose words are made at once
  const int lanes = 8 * (G - 1) + last_lanes;
  // A chunk's words for each chain: slots mac_slot(m, k, 1) for k = k0 .. k0 + kSteps - 1,
  // consecutive words from the start of a Philox block (k0 and the row's first slot are
  // multiples of 4), in a row of kSteps words per chain.
  static_assert(kSteps % 64 == 0);
  words.resize(static_cast<size_t>(kSteps * kLanes));
  uint64_t first[kLanes];  // each chain's word of slot mac_slot(m, 0, 1)
  for (int l = 0; l < kLanes; ++l)
    first[l] = static_cast<uint64_t>(i * m.N + j0 + (l < lanes ? l : 0)) * static_cast<uint64_t>(m.slots) +
               static_cast<uint64_t>(mac_slot(m, 0, 1));
  const StochasticFormat f(m.acc);
  __mmask8 live[G];
  __m512d c[G];
  for (int g = 0; g < G; ++g) {
    live[g] = g + 1 < G ? static_cast<__mmask8>(0xff) : static_cast<__mmask8>((1u << last_lanes) - 1u);
    c[g] = _mm512_setzero_pd();
  }
  const __m512i step = _mm512_set1_epi64(1);
  for (int64_t k0 = 0; k0 < m.K; k0 += kSteps) {
    const int64_t k1 = k0 + kSteps < m.K ? k0 + kSteps : m.K;
    alignas(64) int64_t start[kLanes];
    for (int l = 0; l < kLanes; ++l) {
      if (l < lanes)
        philox_fill_groups(seed, offset + (first[l] + static_cast<uint64_t>(k0)) / 4u, (k1 - k0 + 63) / 64,
                           words.data() + kSteps * l);
      start[l] = kSteps * l;
    }
    __m512i index[G];
    for (int g = 0; g < G; ++g) index[g] = _mm512_load_si512(start + 8 * g);
    for (int64_t k = k0; k < k1; ++k) {
      const __m512d ak = _mm512_set1_pd(static_cast<double>(a[k]));
      for (int g = 0; g < G; ++g) {
        const __m512d p_k = _mm512_mul_pd(ak, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(live[g], b + k * m.N + 8 * g)));
        const __m512i rnd = _mm512_cvtepu32_epi64(_mm512_i64gather_epi32(index[g], words.data(), 4));
        index[g] = _mm512_add_epi64(index[g], step);
        __mmask8 rare;
        const __m512d rounded = stochastic_sum_lanes(p_k, c[g], rnd, live[g], f, rare);
        if (rare) [[unlikely]] {
          alignas(64) double pv[8], cv[8];
          alignas(64) uint64_t rv[8];
          alignas(64) float cf[8];
          _mm512_store_pd(pv, p_k);
          _mm512_store_pd(cv, c[g]);
          _mm512_store_si512(rv, rnd);
          for (int l = 0; l < 8; ++l)
            cf[l] = mac_round_sum<RoundKind::Stochastic>(m, pv[l], cv[l], static_cast<uint32_t>(rv[l]));
          c[g] = _mm512_cvtps_pd(_mm256_load_ps(cf));
          continue;
        }
        c[g] = rounded;
      }
    }
  }
  for (int g = 0; g < G; ++g) _mm256_mask_storeu_ps(out + 8 * g, live[g], _mm512_cvtpd_ps(c[g]));
}

}  // namespace qtorch::quant::cpu

#endif
