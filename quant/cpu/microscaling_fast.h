// The AVX-512 kernels of one MX or NVFP4 block (QTORCH_QUANT_AVX512 builds), bit-identical
// to quantize_mx / quantize_nvfp4 of quant/microscaling_core.h.
// - MX: with a scale that keeps the block's element grid inside float32's normal range
//   (emin + s >= -126), rounding x on the element grid is the floating-format bit rule of
//   fast_kernels.h (drop 23 - man bits), and below 2^emin the grid 2^(emin - man); then
//   saturation to the scaled element max.
// - NVFP4: sixteen elements per vector, the core's exact comparisons with the grid points
//   (or midpoints) times S g done as float32 comparisons with thresholds rounded up or
//   down from them (see nvfp4_block_fast).
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

// ---- Blocks down a column (inner > 1): sixteen adjacent columns, one block each ----

/// mx_scale of sixteen blocks, one per lane, for the lanes `live`. fast: the lanes whose
/// block mx_block_fast's rule covers (mx_fast_supported); nan: the lanes whose block holds
/// NaN or inf. Other live lanes take the scalar core.
struct MXLanes {
  __m512i max_bits;   // magnitude bits of element max * X
  __m512i sub_below;  // 2^emin (fast lanes)
  __m512i q;          // emin - man: the grid below 2^emin
  __mmask16 fast, nan;
};

inline MXLanes mx_scale_lanes(__m512i max_abs_bits, __mmask16 live, const ElementFormat& f) {
  // s = max(floor(log2 amax) - emax, -127), from the exponent field as mx_scale_exponent.
  const __m512i s = _mm512_max_epi32(
      _mm512_sub_epi32(_mm512_srli_epi32(max_abs_bits, 23), _mm512_set1_epi32(127 + f.emax)),
      _mm512_set1_epi32(-127));
  const __m512i emin = _mm512_add_epi32(_mm512_set1_epi32(f.emin), s);
  // The scaled element max, normal in every fast lane: its biased exponent is
  // 127 + emax + s >= emax - emin + 1 >= 1 there, since emin + s >= -126.
  const __m512i top = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(f.max_bits >> 23)), s);
  MXLanes l;
  l.max_bits = _mm512_or_si512(_mm512_slli_epi32(top, 23), _mm512_set1_epi32(static_cast<int>(f.max_bits & 0x7fffffu)));
  l.sub_below = _mm512_slli_epi32(_mm512_add_epi32(emin, _mm512_set1_epi32(127)), 23);
  l.q = _mm512_sub_epi32(emin, _mm512_set1_epi32(f.man));
  l.nan = _mm512_mask_cmpge_epu32_mask(live, max_abs_bits, _mm512_set1_epi32(static_cast<int>(kInfBits)));
  l.fast = live & static_cast<__mmask16>(~l.nan) & _mm512_cmpge_epi32_mask(emin, _mm512_set1_epi32(-126)) &
           _mm512_cmpge_epi32_mask(l.q, _mm512_set1_epi32(-149)) & _mm512_cmple_epi32_mask(l.q, _mm512_set1_epi32(32));
  return l;
}

/// One row of sixteen columns, the lanes l.fast | l.nan: mx_block_fast's arithmetic with
/// each lane's scale; NaN blocks give the quiet NaN. `grid` is made on first need.
template <RoundKind K, bool Track>
inline void mx_lanes_fast(const float* x, float* out, float* mask, const uint32_t* rnd, const MXLanes& l,
                          const BitRule& rule, Grid& grid, bool& have_grid, Tally& tally) {
  const __mmask16 lanes = l.fast | l.nan;
  const __m512i xb = _mm512_maskz_loadu_epi32(lanes, x);
  const __m512i ab = _mm512_and_si512(xb, abs_mask());
  const __mmask16 neg = _mm512_movepi32_mask(xb);
  __m512i r_in = _mm512_setzero_si512();
  if constexpr (K == RoundKind::Stochastic) r_in = _mm512_maskz_loadu_epi32(lanes, rnd);
  __m512i rb = bit_round<K>(ab, xb, r_in, rule);
  const __mmask16 sub = _mm512_mask_cmplt_epu32_mask(l.fast & _mm512_test_epi32_mask(ab, ab), ab, l.sub_below);
  if (sub) {
    if (!have_grid) {
      grid = make_grid_lanes(l.q);
      have_grid = true;
    }
    const __m512 r2 = grid_round<K>(_mm512_castsi512_ps(ab), neg, r_in, grid);
    rb = _mm512_mask_mov_epi32(rb, sub, _mm512_castps_si512(r2));
  }
  const __mmask16 over = _mm512_mask_cmpgt_epu32_mask(l.fast, rb, l.max_bits);
  rb = _mm512_mask_mov_epi32(rb, over, l.max_bits);
  const __m512 y = _mm512_mask_mov_ps(with_sign(rb, xb), l.nan, _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(kNaNBits))));
  _mm512_mask_storeu_ps(out, lanes, y);
  if constexpr (Track) tally.add(lanes, over, ab, y, mask);
}

/// The largest magnitude bits (float_bits & 0x7fffffff) of each of eight consecutive blocks
/// of len floats (len a multiple of 16), into maxima[0 .. 8): one vector per block, then the
/// eight vectors folded together by halves so that each step serves every block.
inline void block_max_abs_bits8(const float* x, int64_t len, uint32_t* maxima) {
  __m512i v[8];
  for (int b = 0; b < 8; ++b) {
    __m512i m = _mm512_setzero_si512();
    for (int64_t i = 0; i < len; i += 16) m = _mm512_max_epu32(m, _mm512_and_si512(_mm512_loadu_si512(x + b * len + i), abs_mask()));
    v[b] = m;
  }
  // 128-bit chunks: pairs of blocks -> [b, b, b+1, b+1] -> [b .. b+3] -> lanes within chunks.
  __m512i h[4];
  for (int p = 0; p < 4; ++p)
    h[p] = _mm512_max_epu32(_mm512_shuffle_i64x2(v[2 * p], v[2 * p + 1], 0x44),
                            _mm512_shuffle_i64x2(v[2 * p], v[2 * p + 1], 0xEE));
  const __m512i q0 = _mm512_max_epu32(_mm512_shuffle_i64x2(h[0], h[1], 0x88), _mm512_shuffle_i64x2(h[0], h[1], 0xDD));
  const __m512i q1 = _mm512_max_epu32(_mm512_shuffle_i64x2(h[2], h[3], 0x88), _mm512_shuffle_i64x2(h[2], h[3], 0xDD));
  // Chunk c of q0 is block c, of q1 block c + 4.
  const __m512i r = _mm512_max_epu32(_mm512_unpacklo_epi64(q0, q1), _mm512_unpackhi_epi64(q0, q1));
  const __m512i t = _mm512_max_epu32(r, _mm512_shuffle_epi32(r, _MM_PERM_CDAB));
  // Chunk c: lanes 0-1 block c, lanes 2-3 block c + 4.
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(maxima), _mm512_castsi512_si256(_mm512_permutexvar_epi32(order, t)));
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

// ---- NVFP4 ----
// The E2M1 index of |x| = a is a count of thresholds, each the magnitude at which the
// index steps up. For a real T and a float32 a: a >= T <=> a >= RU(T), and a > T <=>
// a >= succ(RD(T)). So the core's exact comparisons of a with the doubles p * S g become
// float32 comparisons with thresholds rounded once from them:
// - nearest modes step at the midpoints M_k = {0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, 7} S g,
//   with >= or > by the tie rule (ties to even: >= after an odd index k);
// - TowardZero, and stochastic's floor index, step at the points 0.5 .. 8 times S g with >=;
//   Up and Down step there, or just above the points 0 .. 6, by the sign;
// - stochastic then goes up when rnd < F, F from the core's double quotient d / w.
// A count of 8 is past 6: the output saturates and counts as clamped.

/// The step thresholds of up to eight blocks, [k][block]: a block's threshold k is one
/// broadcast load.
struct NVFP4Steps {
  alignas(64) float pos[8][8];  // x >= 0, or every x when the mode ignores the sign
  alignas(64) float neg[8][8];  // x < 0 (NearestUp, Up, Down)
};

inline constexpr double kE2M1Points[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
inline constexpr double kE2M1Next[8] = {0.5, 1, 1.5, 2, 3, 4, 6, 8};
inline constexpr double kE2M1Mids[8] = {0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, 7};

inline constexpr bool nvfp4_signed_steps(RoundKind k) {
  return k == RoundKind::NearestUp || k == RoundKind::Up || k == RoundKind::Down;
}

/// nvfp4_block_scale of up to eight blocks at once, the same bits, and their step
/// thresholds for mode K. d = amax / (6 g) (a correctly rounded division; 0 for a NaN block
/// or g = 0) is rounded to E4M3 by scaling it exactly onto the integer grid
/// 2^(max(floor(log2 d), -6) - 3) and rounding to nearest even there (the core's floor,
/// remainder and tie test), then saturated at 448. n in 1 .. 8.
template <RoundKind K>
inline void nvfp4_block_scales(const uint32_t* max_abs_bits, int n, float g, NVFP4Scale* out, NVFP4Steps& steps) {
  const __mmask8 live = static_cast<__mmask8>((1u << n) - 1u);
  const __m256i m = _mm256_maskz_loadu_epi32(live, max_abs_bits);
  const __mmask8 nan = _mm256_mask_cmpge_epu32_mask(live, m, _mm256_set1_epi32(static_cast<int>(kInfBits)));
  __m512d d = _mm512_setzero_pd();
  if (g > 0.0f)
    d = _mm512_maskz_div_pd(static_cast<__mmask8>(~nan), _mm512_cvtps_pd(_mm256_castsi256_ps(m)),
                            _mm512_set1_pd(6.0 * static_cast<double>(g)));
  // d >= 0 is 0 or a normal double (amax >= 2^-149, 6 g < 2^122), so its exponent field is
  // floor(log2 d) + 1023; d < 672 puts q in -9 .. 6, where 2^-q and 2^q are exact.
  const __m512i bias = _mm512_set1_epi64(1023);
  const __m512i e = _mm512_sub_epi64(_mm512_srli_epi64(_mm512_castpd_si512(d), 52), bias);
  const __m512i q = _mm512_sub_epi64(_mm512_max_epi64(e, _mm512_set1_epi64(-6)), _mm512_set1_epi64(3));
  const __m512d to_grid = _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_sub_epi64(bias, q), 52));
  const __m512d from_grid = _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_add_epi64(bias, q), 52));
  const __m512d k = _mm512_roundscale_pd(_mm512_mul_pd(d, to_grid), kRN);
  const __m512d S = _mm512_min_pd(_mm512_mul_pd(k, from_grid), _mm512_set1_pd(448.0));
  const __m512d sg = _mm512_mul_pd(S, _mm512_set1_pd(static_cast<double>(g)));
  const __mmask8 zero = _mm512_cmp_pd_mask(sg, _mm512_setzero_pd(), _CMP_EQ_OQ);
  alignas(64) double lanes[8];
  _mm512_store_pd(lanes, sg);
  for (int i = 0; i < n; ++i) out[i] = NVFP4Scale{lanes[i], ((zero >> i) & 1u) != 0, ((nan >> i) & 1u) != 0};

  const auto at_least = [](__m512d t) {  // a >= t
    return _mm512_cvt_roundpd_ps(t, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
  };
  const auto above = [](__m512d t) {  // a > t
    const __m256i down = _mm256_castps_si256(_mm512_cvt_roundpd_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
    return _mm256_castsi256_ps(_mm256_add_epi32(down, _mm256_set1_epi32(1)));
  };
  for (int j = 0; j < 8; ++j) {
    const __m512d mid = _mm512_mul_pd(_mm512_set1_pd(kE2M1Mids[j]), sg);  // exact
    const __m512d point = _mm512_mul_pd(_mm512_set1_pd(kE2M1Points[j]), sg);
    const __m512d next = _mm512_mul_pd(_mm512_set1_pd(kE2M1Next[j]), sg);
    __m256 pos, neg = _mm256_setzero_ps();
    if constexpr (K == RoundKind::NearestEven) {
      pos = j % 2 == 1 ? at_least(mid) : above(mid);
    } else if constexpr (K == RoundKind::NearestAway) {
      pos = at_least(mid);
    } else if constexpr (K == RoundKind::NearestUp) {
      pos = at_least(mid);
      neg = above(mid);
    } else if constexpr (K == RoundKind::Up) {
      pos = above(point);
      neg = at_least(next);
    } else if constexpr (K == RoundKind::Down) {
      pos = at_least(next);
      neg = above(point);
    } else {  // TowardZero, Stochastic
      pos = at_least(next);
    }
    _mm256_store_ps(steps.pos[j], pos);
    if constexpr (nvfp4_signed_steps(K)) _mm256_store_ps(steps.neg[j], neg);
  }
}

/// The E2M1 code of a = |x| before saturation (0 .. 8): the count of thresholds at or
/// below a, threshold j being pos(j), or neg(j) in the lanes `neg` for the signed modes.
/// Two chains of the count, so that the additions overlap.
template <RoundKind K, class Pos, class Neg>
inline __m512i nvfp4_count(__m512 a, __mmask16 neg, const Pos& pos, const Neg& neg_step) {
  const __m512i one = _mm512_set1_epi32(1);
  __m512i even = _mm512_setzero_si512(), odd = even;
  for (int j = 0; j < 8; j += 2) {
    __m512 t0 = pos(j), t1 = pos(j + 1);
    if constexpr (nvfp4_signed_steps(K)) {
      t0 = _mm512_mask_blend_ps(neg, t0, neg_step(j));
      t1 = _mm512_mask_blend_ps(neg, t1, neg_step(j + 1));
    }
    even = _mm512_mask_add_epi32(even, _mm512_cmp_ps_mask(a, t0, _CMP_GE_OQ), even, one);
    odd = _mm512_mask_add_epi32(odd, _mm512_cmp_ps_mask(a, t1, _CMP_GE_OQ), odd, one);
  }
  return _mm512_add_epi32(even, odd);
}

/// Stochastic's decision on eight lanes, as the core's nvfp4_round_up: F = the double
/// quotient d / w times 2^32, truncated, with a sticky last bit; up where rnd < F.
inline __mmask8 nvfp4_stochastic_up(__m512d d, __m512d w, const uint32_t* rnd, __mmask8 live) {
  const __m512d scaled = _mm512_mul_pd(_mm512_div_pd(d, w), _mm512_set1_pd(4294967296.0));
  const __m512d top = _mm512_roundscale_pd(scaled, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __mmask8 sticky = _mm512_cmp_pd_mask(scaled, top, _CMP_NEQ_OQ);
  const __m256i whole = _mm512_cvttpd_epu32(top);
  const __m256i F = _mm256_mask_or_epi32(whole, sticky, whole, _mm256_set1_epi32(1));
  return _mm256_cmplt_epu32_mask(_mm256_maskz_loadu_epi32(live, rnd), F);
}

/// Lanes 0-7 (half 0) or 8-15 (half 1) of v.
inline __m256 half_of(__m512 v, int half) {
  return half == 0 ? _mm512_castps512_ps256(v) : _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

/// The n elements of block `block` of the batch whose scales and steps nvfp4_block_scales
/// made (precondition !s.nan && !s.zero), sixteen float32 lanes at a time. The outputs are
/// the points times S g rounded to nearest-even float32, as the core rounds them.
template <RoundKind K, bool Track>
inline void nvfp4_block_fast(const float* x, float* out, float* mask, const uint32_t* rnd, int64_t n,
                             const NVFP4Scale& s, const NVFP4Steps& steps, int block, Tally& tally) {
  const __m512d sg = _mm512_set1_pd(s.sg);
  const __m512d points = _mm512_mul_pd(_mm512_loadu_pd(kE2M1Points), sg);  // exact
  const __m512 outputs = _mm512_castps256_ps512(_mm512_cvtpd_ps(points));
  const __m512i one = _mm512_set1_epi32(1), seven = _mm512_set1_epi32(7);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 live = tail_mask(n - i);
    const __m512i xb = _mm512_maskz_loadu_epi32(live, x + i);
    const __m512i ab = _mm512_and_si512(xb, abs_mask());
    const __m512 a = _mm512_castsi512_ps(ab);
    const __mmask16 neg = _mm512_movepi32_mask(xb);
    __m512i index = nvfp4_count<K>(
        a, neg, [&](int j) { return _mm512_set1_ps(steps.pos[j][block]); },
        [&](int j) { return _mm512_set1_ps(steps.neg[j][block]); });
    if constexpr (K == RoundKind::Stochastic) {
      // index is the floor point lo; d = a - lo S g and w = (next - lo) S g are exact doubles.
      const __m512d nexts = _mm512_mul_pd(_mm512_loadu_pd(kE2M1Next), sg);
      __mmask16 up = 0;
      for (int half = 0; half < 2; ++half) {
        const __m256i lo32 = half == 0 ? _mm512_castsi512_si256(index) : _mm512_extracti64x4_epi64(index, 1);
        const __m512i lo = _mm512_cvtepu32_epi64(lo32);  // 8 selects lane 0: masked out below
        const __m512d glo = _mm512_permutexvar_pd(lo, points);
        const __m512d d = _mm512_sub_pd(_mm512_cvtps_pd(half_of(a, half)), glo);
        const __m512d w = _mm512_sub_pd(_mm512_permutexvar_pd(lo, nexts), glo);
        const __mmask8 up8 = nvfp4_stochastic_up(d, w, rnd + i + 8 * half, static_cast<__mmask8>(live >> (8 * half)));
        up |= static_cast<__mmask16>(static_cast<unsigned>(up8) << (8 * half));
      }
      up &= _mm512_cmplt_epi32_mask(index, _mm512_set1_epi32(8));
      index = _mm512_mask_add_epi32(index, up, index, one);
    }
    const __mmask16 over = _mm512_cmpgt_epi32_mask(index, seven);
    const __m512 y = with_sign(_mm512_castps_si512(_mm512_permutexvar_ps(_mm512_min_epi32(index, seven), outputs)), xb);
    _mm512_mask_storeu_ps(out + i, live, y);
    if constexpr (Track) tally.add(live, over, ab, y, mask ? mask + i : nullptr);
  }
}

/// NVFP4 scales and step thresholds of sixteen blocks, one per lane (lanes past n: zero
/// scale). The lanes' outputs are their code's point times S g, formed in double.
struct NVFP4Lanes {
  __m512 pos[8], neg[8];  // the step thresholds (neg: the signed modes' for x < 0)
  __m512d sg[2];          // S g of lanes 0-7 and 8-15
  __mmask16 nan, zero;
};

template <RoundKind K>
inline void nvfp4_scale_lanes(const uint32_t* max_abs_bits, int n, float g, NVFP4Lanes& l) {
  NVFP4Scale scales[16];
  NVFP4Steps steps[2] = {};
  nvfp4_block_scales<K>(max_abs_bits, n < 8 ? n : 8, g, scales, steps[0]);
  if (n > 8) nvfp4_block_scales<K>(max_abs_bits + 8, n - 8, g, scales + 8, steps[1]);
  for (int j = 0; j < 8; ++j) {
    l.pos[j] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_load_ps(steps[0].pos[j])), _mm256_load_ps(steps[1].pos[j]), 1);
    if constexpr (nvfp4_signed_steps(K))
      l.neg[j] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_load_ps(steps[0].neg[j])), _mm256_load_ps(steps[1].neg[j]), 1);
  }
  alignas(64) double sg[16] = {};
  l.nan = 0;
  l.zero = static_cast<__mmask16>(0xffff);
  for (int i = 0; i < n; ++i) {
    sg[i] = scales[i].sg;
    if (scales[i].nan) l.nan |= static_cast<__mmask16>(1u << i);
    if (!scales[i].zero) l.zero &= static_cast<__mmask16>(~(1u << i));
  }
  l.sg[0] = _mm512_load_pd(sg);
  l.sg[1] = _mm512_load_pd(sg + 8);
}

/// One row of sixteen columns (the lanes `live`), each lane with its block's scale: the code
/// counted against the lane's thresholds as in nvfp4_block_fast, the output its point
/// times S g rounded to float32. A zero S g makes that product a zero of the input's sign
/// whatever the code; NaN blocks give the quiet NaN; neither counts as clamped.
template <RoundKind K, bool Track>
inline void nvfp4_lanes_fast(const float* x, float* out, float* mask, const uint32_t* rnd, __mmask16 live,
                             const NVFP4Lanes& l, Tally& tally) {
  // The E2M1 points and the step to the next, as floats, indexed by code (8 .. 15 unused).
  const __m512 points = _mm512_setr_ps(0, 0.5f, 1, 1.5f, 2, 3, 4, 6, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512 widths = _mm512_setr_ps(0.5f, 0.5f, 0.5f, 0.5f, 1, 1, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i one = _mm512_set1_epi32(1), seven = _mm512_set1_epi32(7);
  const __m512i xb = _mm512_maskz_loadu_epi32(live, x);
  const __m512i ab = _mm512_and_si512(xb, abs_mask());
  const __m512 a = _mm512_castsi512_ps(ab);
  const __mmask16 neg = _mm512_movepi32_mask(xb);
  __m512i index = nvfp4_count<K>(a, neg, [&](int j) { return l.pos[j]; }, [&](int j) { return l.neg[j]; });
  if constexpr (K == RoundKind::Stochastic) {
    // d = a - lo S g and w = step S g, exact doubles.
    const __m512 glo = _mm512_permutexvar_ps(index, points), step = _mm512_permutexvar_ps(index, widths);
    __mmask16 up = 0;
    for (int half = 0; half < 2; ++half) {
      const __m512d d = _mm512_sub_pd(_mm512_cvtps_pd(half_of(a, half)), _mm512_mul_pd(_mm512_cvtps_pd(half_of(glo, half)), l.sg[half]));
      const __m512d w = _mm512_mul_pd(_mm512_cvtps_pd(half_of(step, half)), l.sg[half]);
      const __mmask8 up8 = nvfp4_stochastic_up(d, w, rnd + 8 * half, static_cast<__mmask8>(live >> (8 * half)));
      up |= static_cast<__mmask16>(static_cast<unsigned>(up8) << (8 * half));
    }
    up &= _mm512_cmplt_epi32_mask(index, _mm512_set1_epi32(8)) & static_cast<__mmask16>(~(l.zero | l.nan));
    index = _mm512_mask_add_epi32(index, up, index, one);
  }
  const __mmask16 special = l.zero | l.nan;
  const __mmask16 over = _mm512_mask_cmpgt_epi32_mask(static_cast<__mmask16>(live & ~special), index, seven);
  const __m512 point = _mm512_permutexvar_ps(_mm512_min_epi32(index, seven), points);
  const __m256 y0 = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(half_of(point, 0)), l.sg[0]));
  const __m256 y1 = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(half_of(point, 1)), l.sg[1]));
  __m512 y = with_sign(_mm512_castps_si512(_mm512_insertf32x8(_mm512_castps256_ps512(y0), y1, 1)), xb);
  y = _mm512_mask_mov_ps(y, l.nan, _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(kNaNBits))));
  _mm512_mask_storeu_ps(out, live, y);
  if constexpr (Track) tally.add(live, over, ab, y, mask);
}

}  // namespace qtorch::quant::cpu

#endif
