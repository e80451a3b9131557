// The AVX-512 kernels of one MX or NVFP4 block (QTORCH_QUANT_AVX512 builds), bit-identical
// to quantize_mx / quantize_nvfp4 of quant/microscaling_core.h.
// - MX: with a scale that keeps the block's element grid inside float32's normal range
//   (emin + s >= -126), rounding x on the element grid is the floating-format bit rule of
//   fast_kernels.h (drop 23 - man bits), and below 2^emin the grid 2^(emin - man); then
//   saturation to the scaled element max.
// - NVFP4: eight elements per vector of doubles; the same comparisons with the grid points
//   times S g as the core, the grid as a permute table.
#pragma once

#include "qtorch/quant/cpu/fast_kernels.h"

#if QTORCH_QUANT_AVX512
#include "qtorch/quant/microscaling_core.h"

namespace qtorch::quant::cpu {

/// Whether mx_block_fast applies to a block with this scale: a finite block whose element
/// grid lies in float32's normal range and whose subnormal spacing is a grid Grid handles.
inline bool mx_fast_supported(const MXScale& s) {
  return !s.nan && s.emin >= -126 && grid_supported(s.emin - s.man);
}

/// n (a multiple of 16) elements sharing scale s; precondition mx_fast_supported(s) and
/// `rule` = BitRule(23 - s.man). rnd: the elements' random words (read when stochastic).
template <RoundKind K, bool Track>
inline void mx_block_fast(const float* x, float* out, float* mask, const uint32_t* rnd, int64_t n,
                          const MXScale& s, const BitRule& rule, Tally& tally) {
  const __m512i maxb = _mm512_set1_epi32(static_cast<int>(s.max_bits));
  const __m512i sub_below = _mm512_set1_epi32(static_cast<int>(pow2_bits(s.emin)));
  Grid grid{};
  bool have_grid = false;
  for (int64_t i = 0; i < n; i += 16) {
    const __m512i xb = _mm512_loadu_si512(x + i);
    const __m512i ab = _mm512_and_si512(xb, abs_mask());
    const __mmask16 neg = _mm512_movepi32_mask(xb);
    __m512i r_in = _mm512_setzero_si512();
    if constexpr (K == RoundKind::Stochastic) r_in = _mm512_loadu_si512(rnd + i);
    __m512i rb = bit_round<K>(ab, xb, r_in, rule);
    const __mmask16 sub = _mm512_mask_cmplt_epu32_mask(_mm512_test_epi32_mask(ab, ab), ab, sub_below);
    if (sub) {
      if (!have_grid) {
        grid = make_grid(s.emin - s.man);
        have_grid = true;
      }
      const __m512 r2 = grid_round<K>(_mm512_castsi512_ps(ab), neg, r_in, grid);
      rb = _mm512_mask_mov_epi32(rb, sub, _mm512_castps_si512(r2));
    }
    if constexpr (Track) {
      const __mmask16 over = _mm512_cmpgt_epu32_mask(rb, maxb);
      rb = _mm512_mask_mov_epi32(rb, over, maxb);
      const __m512 y = with_sign(rb, xb);
      _mm512_storeu_ps(out + i, y);
      tally.add(static_cast<__mmask16>(0xffff), over, ab, y, mask ? mask + i : nullptr);
    } else {
      _mm512_storeu_ps(out + i, with_sign(_mm512_min_epu32(rb, maxb), xb));
    }
  }
}

/// max over i of float_bits(x[i]) & 0x7fffffff among the finite x[i] (NVFP4's tensor pass).
inline uint32_t max_finite_abs_bits(const float* x, int64_t n) {
  const __m512i inf = _mm512_set1_epi32(static_cast<int>(kInfBits));
  __m512i m0 = _mm512_setzero_si512(), m1 = m0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512i a0 = _mm512_and_si512(_mm512_loadu_si512(x + i), abs_mask());
    const __m512i a1 = _mm512_and_si512(_mm512_loadu_si512(x + i + 16), abs_mask());
    m0 = _mm512_mask_max_epu32(m0, _mm512_cmplt_epu32_mask(a0, inf), m0, a0);
    m1 = _mm512_mask_max_epu32(m1, _mm512_cmplt_epu32_mask(a1, inf), m1, a1);
  }
  for (; i < n; i += 16) {
    const __m512i a = _mm512_and_si512(_mm512_maskz_loadu_epi32(tail_mask(n - i), x + i), abs_mask());
    m0 = _mm512_mask_max_epu32(m0, _mm512_cmplt_epu32_mask(a, inf), m0, a);
  }
  return _mm512_reduce_max_epu32(_mm512_max_epu32(m0, m1));
}

/// Counts of the NVFP4 kernel (lanes of 8; see Tally for why not popcounts of masks).
struct Tally8 {
  __m256i clamped_lanes = _mm256_setzero_si256();
  __m256i flushed_lanes = _mm256_setzero_si256();
  int64_t clamped() const { return sum(clamped_lanes); }
  int64_t flushed() const { return sum(flushed_lanes); }
  static int64_t sum(__m256i v) {
    alignas(32) int32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), v);
    int64_t total = 0;
    for (int32_t lane : lanes) total += lane;
    return total;
  }
};

/// n (a multiple of 8) elements sharing the NVFP4 scale s; precondition !s.nan && !s.zero.
template <RoundKind K, bool Track>
inline void nvfp4_block_fast(const float* x, float* out, float* mask, const uint32_t* rnd, int64_t n,
                             const NVFP4Scale& s, Tally8& tally) {
  const __m512d sg = _mm512_set1_pd(s.sg);
  // Grid points (index 0..7) and the next point above each, times S g: exact doubles.
  const __m512d grid = _mm512_mul_pd(_mm512_setr_pd(0, 0.5, 1, 1.5, 2, 3, 4, 6), sg);
  const __m512d next = _mm512_mul_pd(_mm512_setr_pd(0.5, 1, 1.5, 2, 3, 4, 6, 8), sg);
  const __m512i one = _mm512_set1_epi64(1), seven = _mm512_set1_epi64(7);
  const __m256i abs8 = _mm256_set1_epi32(static_cast<int>(kAbsMask));
  const __m256i sign8 = _mm256_set1_epi32(static_cast<int>(kSignBit));
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i xb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    const __m256i ab = _mm256_and_si256(xb, abs8);
    const __mmask8 neg = _mm256_movepi32_mask(xb);
    const __m512d a = _mm512_cvtps_pd(_mm256_castsi256_ps(ab));
    // The floor index: how many of the points 0.5 .. 8 (times S g) are <= |x|.
    __m512i lo = _mm512_setzero_si512();
    lo = _mm512_mask_add_epi64(lo, _mm512_cmp_pd_mask(a, _mm512_permutexvar_pd(_mm512_set1_epi64(1), grid), _CMP_GE_OQ), lo, one);
    for (int j = 2; j <= 7; ++j)
      lo = _mm512_mask_add_epi64(lo, _mm512_cmp_pd_mask(a, _mm512_permutexvar_pd(_mm512_set1_epi64(j), grid), _CMP_GE_OQ), lo, one);
    lo = _mm512_mask_add_epi64(lo, _mm512_cmp_pd_mask(a, _mm512_permutexvar_pd(seven, next), _CMP_GE_OQ), lo, one);
    const __m512i lo7 = _mm512_min_epi64(lo, seven);
    const __m512d glo = _mm512_permutexvar_pd(lo7, grid);
    const __m512d d = _mm512_sub_pd(a, glo);
    const __m512d w = _mm512_sub_pd(_mm512_permutexvar_pd(lo7, next), glo);
    const __m512d d2 = _mm512_add_pd(d, d);
    __mmask8 up;
    if constexpr (K == RoundKind::Stochastic) {
      const __m512d scaled = _mm512_mul_pd(_mm512_div_pd(d, w), _mm512_set1_pd(4294967296.0));
      const __m512d top = _mm512_roundscale_pd(scaled, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
      const __mmask8 sticky = _mm512_cmp_pd_mask(scaled, top, _CMP_NEQ_OQ);
      __m256i F = _mm512_cvttpd_epu32(top);
      F = _mm256_mask_or_epi32(F, sticky, F, _mm256_set1_epi32(1));
      const __m256i r = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rnd + i));
      up = _mm256_cmplt_epu32_mask(r, F);
    } else if constexpr (K == RoundKind::NearestAway) {
      up = _mm512_cmp_pd_mask(d2, w, _CMP_GE_OQ);
    } else if constexpr (K == RoundKind::NearestEven || K == RoundKind::NearestUp) {
      const __mmask8 tie_up = K == RoundKind::NearestEven ? _mm512_test_epi64_mask(lo, one)
                                                           : static_cast<__mmask8>(~neg);
      up = _mm512_cmp_pd_mask(d2, w, _CMP_GT_OQ) | (_mm512_cmp_pd_mask(d2, w, _CMP_EQ_OQ) & tie_up);
    } else if constexpr (K == RoundKind::TowardZero) {
      up = 0;
    } else {
      const __mmask8 positive = _mm512_cmp_pd_mask(d, _mm512_setzero_pd(), _CMP_GT_OQ);
      up = K == RoundKind::Up ? static_cast<__mmask8>(positive & ~neg) : static_cast<__mmask8>(positive & neg);
    }
    up &= _mm512_cmplt_epi64_mask(lo, _mm512_set1_epi64(8));
    __m512i index = _mm512_mask_add_epi64(lo, up, lo, one);
    const __mmask8 over = _mm512_cmpgt_epi64_mask(index, seven);
    index = _mm512_min_epi64(index, seven);
    const __m256 magnitude = _mm512_cvtpd_ps(_mm512_permutexvar_pd(index, grid));  // nearest even
    const __m256i yb = _mm256_or_si256(_mm256_castps_si256(magnitude), _mm256_and_si256(xb, sign8));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), yb);
    if constexpr (Track) {
      const __m256i ones = _mm256_set1_epi32(1);
      tally.clamped_lanes = _mm256_mask_add_epi32(tally.clamped_lanes, over, tally.clamped_lanes, ones);
      const __mmask8 flushed = _mm256_test_epi32_mask(ab, ab) & _mm256_testn_epi32_mask(yb, abs8);
      tally.flushed_lanes = _mm256_mask_add_epi32(tally.flushed_lanes, flushed, tally.flushed_lanes, ones);
      if (mask) _mm256_storeu_ps(mask + i, _mm256_maskz_mov_ps(over, _mm256_set1_ps(1.0f)));
    }
  }
}

}  // namespace qtorch::quant::cpu

#endif
