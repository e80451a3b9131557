// The AVX-512 kernel of one MX block (QTORCH_QUANT_AVX512 builds), bit-identical to
// quantize_mx of quant/microscaling_core.h. With a scale that keeps the block's element
// grid inside float32's normal range (emin + s >= -126), rounding x on the element grid is
// the floating-format bit rule of fast_kernels.h (drop 23 - man bits), and below 2^emin
// the grid 2^(emin - man); then saturation to the scaled element max.
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

}  // namespace qtorch::quant::cpu

#endif
