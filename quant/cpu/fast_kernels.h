// AVX-512 quantize kernels, bit-identical to the rounding core (quant/rounding_core.h) on
// the parameter ranges their preconditions state; the caller falls back to the core's
// scalar loop elsewhere. Two exact tricks replace the core's general shift logic:
// - a grid 2^q on magnitudes a < 2^(q+23): t = (a + 2^(q+23)) - 2^(q+23) with the add
//   rounded toward zero is floor(a / 2^q) * 2^q (or, rounded to nearest even, the
//   ties-to-even result); the dropped part d = a - t is exact, and the core's 32-bit
//   fraction F is d * 2^(32-q) truncated, with its sticky bit where that is not an integer;
// - a floating format's normal range drops a constant s = 23 - man bits of the float32
//   bit pattern: add a bias below the kept bits, then mask (stochastic: the bias is
//   ~rnd >> (32 - s), which carries exactly when rnd < F).
#pragma once

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#define QTORCH_QUANT_AVX512 1

#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "qtorch/quant/cpu/philox_simd.h"
#include "qtorch/quant/rounding_core.h"

namespace qtorch::quant::cpu {

/// A grid 2^q on magnitudes (fixed point, one block, a floating format's subnormal range).
struct Grid {
  __m512 M;        // 2^(q+23): magnitudes at or above it are already on the grid
  __m512i Mbits;
  __m512 U;        // 2^q
  __m512 U_next;   // the float after 2^q
  __m512 A, B;     // A * B = 2^(32-q), each multiplication exact
};

/// The grids these kernels handle exactly.
inline bool grid_supported(int32_t q) { return q >= -149 && q <= 32; }

inline Grid make_grid(int32_t q) {
  const int32_t e = 32 - q;  // 0 .. 181
  const int32_t ea = e < 100 ? e : 100;
  Grid g;
  g.Mbits = _mm512_set1_epi32((q + 23 + 127) << 23);
  g.M = _mm512_castsi512_ps(g.Mbits);
  g.U = _mm512_set1_ps(bits_float(pow2_bits(q)));
  g.U_next = _mm512_set1_ps(bits_float(pow2_bits(q) + 1u));
  g.A = _mm512_set1_ps(bits_float(static_cast<uint32_t>(ea + 127) << 23));
  g.B = _mm512_set1_ps(bits_float(static_cast<uint32_t>(e - ea + 127) << 23));
  return g;
}

/// make_grid with a grid per lane: lane l rounds on 2^q[l] (each q[l] grid_supported).
inline Grid make_grid_lanes(__m512i q) {
  const __m512i e = _mm512_sub_epi32(_mm512_set1_epi32(32), q);  // 0 .. 181
  const __m512i ea = _mm512_min_epi32(e, _mm512_set1_epi32(100));
  const __m512i bias = _mm512_set1_epi32(127);
  const __m512i normal_unit = _mm512_slli_epi32(_mm512_add_epi32(q, bias), 23);
  const __m512i subnormal_unit = _mm512_sllv_epi32(_mm512_set1_epi32(1), _mm512_add_epi32(q, _mm512_set1_epi32(149)));
  const __m512i unit = _mm512_mask_blend_epi32(_mm512_cmpge_epi32_mask(q, _mm512_set1_epi32(-126)), subnormal_unit,
                                               normal_unit);  // pow2_bits(q)
  Grid g;
  g.Mbits = _mm512_slli_epi32(_mm512_add_epi32(q, _mm512_set1_epi32(23 + 127)), 23);
  g.M = _mm512_castsi512_ps(g.Mbits);
  g.U = _mm512_castsi512_ps(unit);
  g.U_next = _mm512_castsi512_ps(_mm512_add_epi32(unit, _mm512_set1_epi32(1)));
  g.A = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(ea, bias), 23));
  g.B = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(e, ea), bias), 23));
  return g;
}

inline constexpr int kRZ = _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC;
inline constexpr int kRN = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
inline constexpr int kRU = _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC;

/// round_to_quantum<K> for magnitudes a < 2^(q+23) (other lanes: anything).
template <RoundKind K>
inline __m512 grid_round(__m512 a, __mmask16 neg, __m512i rnd, const Grid& g) {
  if constexpr (K == RoundKind::NearestEven) {
    return _mm512_sub_round_ps(_mm512_add_round_ps(a, g.M, kRN), g.M, kRN);
  } else {
    const __m512 t = _mm512_sub_round_ps(_mm512_add_round_ps(a, g.M, kRZ), g.M, kRN);
    __mmask16 up;
    if constexpr (K == RoundKind::TowardZero) {
      return t;
    } else if constexpr (K == RoundKind::Stochastic) {
      const __m512 d = _mm512_sub_ps(a, t);
      const __m512 v = _mm512_mul_ps(_mm512_mul_ps(d, g.A), g.B);  // exact, < 2^32
      const __m512i vi = _mm512_cvttps_epu32(v);
      const __mmask16 frac = _mm512_cmp_ps_mask(v, _mm512_roundscale_ps(v, kRZ), _CMP_NEQ_OQ);
      const __m512i F = _mm512_mask_or_epi32(vi, frac, vi, _mm512_set1_epi32(1));
      up = _mm512_cmplt_epu32_mask(rnd, F);
    } else if constexpr (K == RoundKind::NearestAway) {
      const __m512 d = _mm512_sub_ps(a, t);
      up = _mm512_cmp_ps_mask(_mm512_add_ps(d, d), g.U, _CMP_GE_OQ);
    } else if constexpr (K == RoundKind::NearestUp) {
      // Ties up for positive x, down for negative: 2d >= U, or 2d > U (2d >= nextup(U)).
      const __m512 d = _mm512_sub_ps(a, t);
      up = _mm512_cmp_ps_mask(_mm512_add_ps(d, d), _mm512_mask_blend_ps(neg, g.U, g.U_next),
                              _CMP_GE_OQ);
    } else {
      // Up / Down: the ceiling for one sign, the truncation for the other.
      const __m512 c = _mm512_sub_round_ps(_mm512_add_round_ps(a, g.M, kRU), g.M, kRN);
      return K == RoundKind::Up ? _mm512_mask_blend_ps(neg, c, t) : _mm512_mask_blend_ps(neg, t, c);
    }
    return _mm512_mask_add_ps(t, up, t, g.U);
  }
}

inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1u);
}

inline __m512i abs_mask() { return _mm512_set1_epi32(static_cast<int>(kAbsMask)); }

/// Per-vector bookkeeping: counts and the clamp mask (1.0 / 0.0). The counts stay in
/// vector lanes (one per lane, summed once at the end) rather than popcounts of mask
/// registers: g++ 12 spills a __mmask16 with a 16-bit kmovw and then popcounts the slot
/// as 32 bits, counting stack garbage (seen: 256 phantom clamps per chunk on the first
/// call of a process, when the lazy-binding resolver had dirtied the stack).
struct Tally {
  __m512i clamped_lanes = _mm512_setzero_si512();
  __m512i flushed_lanes = _mm512_setzero_si512();
  inline void add(__mmask16 live, __mmask16 clamped, __m512i ab, __m512 y, float* mask) {
    clamped &= live;
    const __mmask16 nonzero_in = _mm512_test_epi32_mask(ab, ab) &
                                 _mm512_cmplt_epu32_mask(ab, _mm512_set1_epi32(static_cast<int>(kInfBits)));
    const __mmask16 zero_out = _mm512_testn_epi32_mask(_mm512_castps_si512(y), abs_mask());
    const __m512i one = _mm512_set1_epi32(1);
    clamped_lanes = _mm512_mask_add_epi32(clamped_lanes, clamped, clamped_lanes, one);
    flushed_lanes = _mm512_mask_add_epi32(flushed_lanes, nonzero_in & zero_out & live, flushed_lanes, one);
    if (mask)
      _mm512_mask_storeu_ps(mask, live,
                            _mm512_mask_blend_ps(clamped, _mm512_setzero_ps(), _mm512_set1_ps(1.0f)));
  }
  /// The counts so far: the lanes added in 64 bits (each lane counts at most one element
  /// in 16 of a chunk, so int32 lanes hold any chunk the kernels are given; their sum may not).
  int64_t clamped() const { return sum_of_lanes(clamped_lanes); }
  int64_t flushed() const { return sum_of_lanes(flushed_lanes); }
  static int64_t sum_of_lanes(__m512i lanes) {
    return _mm512_reduce_add_epi64(_mm512_cvtepu32_epi64(_mm512_castsi512_si256(lanes))) +
           _mm512_reduce_add_epi64(_mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(lanes, 1)));
  }
};

// sign | magnitude
inline __m512 with_sign(__m512i mag, __m512i xb) {
  return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(
      mag, xb, _mm512_set1_epi32(static_cast<int>(kSignBit)), 0xF8));  // mag | (xb & sign)
}

// Where a kernel's random words come from (element i of the segment):
struct NoBits {};                // not stochastic
struct BufferBits {              // rnd[i]
  const uint32_t* rnd;
};
struct PhiloxBits {              // word i % 4 of Philox block block0 + i / 4, made in registers
  const PhiloxSimd* gen;
  uint64_t block0;
};

/// Loops over n elements with full vectors, then one masked tail:
/// body(i, live, tail, rnd) with tail a std::bool_constant and rnd element i's words.
template <class Src, class Body>
inline void for_vectors(int64_t n, const Src& src, Body&& body) {
  int64_t i = 0;
  if constexpr (std::is_same_v<Src, PhiloxBits>) {
    // 128 elements (two Philox groups) per step; the words never leave the registers.
    for (; i + 128 <= n; i += 128) {
      __m512i r[8];
      src.gen->template groups<2>(src.block0 + static_cast<uint64_t>(i / 4), r);
      for (int k = 0; k < 8; ++k)
        body(i + 16 * k, static_cast<__mmask16>(0xffff), std::false_type{}, r[k]);
    }
    for (; i < n; i += 64) {
      __m512i r[4];
      src.gen->template groups<1>(src.block0 + static_cast<uint64_t>(i / 4), r);
      for (int k = 0; k < 4 && i + 16 * k < n; ++k)
        body(i + 16 * k, tail_mask(n - i - 16 * k), std::true_type{}, r[k]);
    }
  } else {
    auto words = [&](int64_t j, __mmask16 live, auto tail) {
      if constexpr (std::is_same_v<Src, BufferBits>) {
        if constexpr (decltype(tail)::value) return _mm512_maskz_loadu_epi32(live, src.rnd + j);
        else return _mm512_loadu_si512(src.rnd + j);
      } else {
        return _mm512_setzero_si512();
      }
    };
#pragma GCC unroll 4
    for (; i + 16 <= n; i += 16) {
      const __mmask16 all = 0xffff;
      body(i, all, std::false_type{}, words(i, all, std::false_type{}));
    }
    if (i < n) body(i, tail_mask(n - i), std::true_type{}, words(i, tail_mask(n - i), std::true_type{}));
  }
}

template <class Tail>
inline __m512 load_x(const float* p, __mmask16 live, Tail) {
  if constexpr (Tail::value) return _mm512_maskz_loadu_ps(live, p);
  else return _mm512_loadu_ps(p);
}
/// stream: non-temporal stores (64-byte aligned p) for outputs too large for the caches,
/// which skip the read-for-ownership of the output lines.
template <class Tail>
inline void store_y(float* p, __mmask16 live, __m512 y, bool stream, Tail) {
  if constexpr (Tail::value) _mm512_mask_storeu_ps(p, live, y);
  else if (stream) _mm512_stream_ps(p, y);
  else _mm512_storeu_ps(p, y);
}

/// Fixed point: grid 2^q, then clamp to [lo, hi]; precondition grid_supported(q).
template <RoundKind K, bool Track, class Src>
void fixed_fast(const float* x, float* out, float* mask, const Src& src, int64_t n,
                const Grid& grid, float lo_s, float hi_s, bool stream, Tally& tally) {
  const Grid g = grid;  // a local copy stays in registers across the stores
  const __m512 lo = _mm512_set1_ps(lo_s), hi = _mm512_set1_ps(hi_s);
  for_vectors(n, src, [&](int64_t i, __mmask16 live, auto tail, __m512i r_in) {
    const __m512 xv = load_x(x + i, live, tail);
    const __m512i xb = _mm512_castps_si512(xv);
    const __m512i ab = _mm512_and_si512(xb, abs_mask());
    const __mmask16 neg = _mm512_movepi32_mask(xb);
    const __m512 r = grid_round<K>(_mm512_castsi512_ps(ab), neg, r_in, g);
    const __mmask16 on_grid = _mm512_cmpge_epu32_mask(ab, g.Mbits);  // also inf, NaN
    const __m512i rb = _mm512_mask_blend_epi32(on_grid, _mm512_castps_si512(r), ab);
    __m512 y = with_sign(rb, xb);
    if constexpr (Track) {
      const __mmask16 over = _mm512_cmp_ps_mask(y, hi, _CMP_GT_OQ);
      const __mmask16 under = _mm512_cmp_ps_mask(y, lo, _CMP_LT_OQ);
      y = _mm512_mask_mov_ps(y, over, hi);
      y = _mm512_mask_mov_ps(y, under, lo);
      tally.add(live, over | under, ab, y, mask ? mask + i : nullptr);
    } else {
      // vminps / vmaxps return the second operand when either is NaN or both are zeros,
      // so y keeps NaN and the sign of zero, as the strict compares above do.
      y = _mm512_max_ps(lo, _mm512_min_ps(hi, y));
    }
    store_y(out + i, live, y, stream, tail);
  });
}

/// One block: grid 2^q, saturate magnitudes to sat; precondition grid_supported(q), the
/// block holds no NaN or inf (so every magnitude is below 2^(q+23)).
template <RoundKind K, bool Track, class Src>
void block_fast(const float* x, float* out, float* mask, const Src& src, int64_t n,
                const Grid& grid, uint32_t sat_bits, bool stream, Tally& tally) {
  const Grid g = grid;
  const __m512i sat = _mm512_set1_epi32(static_cast<int>(sat_bits));
  for_vectors(n, src, [&](int64_t i, __mmask16 live, auto tail, __m512i r_in) {
    const __m512 xv = load_x(x + i, live, tail);
    const __m512i xb = _mm512_castps_si512(xv);
    const __m512i ab = _mm512_and_si512(xb, abs_mask());
    const __mmask16 neg = _mm512_movepi32_mask(xb);
    __m512i rb = _mm512_castps_si512(grid_round<K>(_mm512_castsi512_ps(ab), neg, r_in, g));
    if constexpr (Track) {
      const __mmask16 over = _mm512_cmpgt_epu32_mask(rb, sat);
      rb = _mm512_mask_mov_epi32(rb, over, sat);
      tally.add(live, over, ab, with_sign(rb, xb), mask ? mask + i : nullptr);
    } else {
      rb = _mm512_min_epu32(rb, sat);
    }
    store_y(out + i, live, with_sign(rb, xb), stream, tail);
  });
}

/// max over i of float_bits(x[i]) & 0x7fffffff.
inline uint32_t max_abs_bits(const float* x, int64_t n) {
  const __m512i abs = abs_mask();
  __m512i m0 = _mm512_setzero_si512(), m1 = m0, m2 = m0, m3 = m0;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    m0 = _mm512_max_epu32(m0, _mm512_and_si512(_mm512_loadu_si512(x + i), abs));
    m1 = _mm512_max_epu32(m1, _mm512_and_si512(_mm512_loadu_si512(x + i + 16), abs));
    m2 = _mm512_max_epu32(m2, _mm512_and_si512(_mm512_loadu_si512(x + i + 32), abs));
    m3 = _mm512_max_epu32(m3, _mm512_and_si512(_mm512_loadu_si512(x + i + 48), abs));
  }
  for (; i < n; i += 16)
    m0 = _mm512_max_epu32(m0, _mm512_and_si512(_mm512_maskz_loadu_epi32(tail_mask(n - i), x + i), abs));
  return _mm512_reduce_max_epu32(_mm512_max_epu32(_mm512_max_epu32(m0, m1), _mm512_max_epu32(m2, m3)));
}

/// A floating format, per call: the normal range drops s = 23 - man >= 1 bits; magnitudes
/// below sub_below (nonzero) use the grid `sub` (the subnormal or flushed range).
struct FloatFast {
  int s;
  uint32_t sub_below;  // 0: the bit rule holds everywhere (emin = -126 with subnormals);
                       // else 2^emin (float32 subnormals are below it whatever emin)
  Grid sub;
  uint32_t max_bits, ovf_bits, inf_bits;
};

/// The constants of dropping s = 23 - man bits, hoisted out of the loop.
struct BitRule {
  __m512i low, half, half_minus_one, one, implicit;
  __m128i s, rnd_shift;  // shift counts s and 32 - s
  bool top;              // s == 23: the kept significand is the implicit bit alone
  explicit BitRule(int bits)
      : low(_mm512_set1_epi32(static_cast<int>((1u << bits) - 1u))),
        half(_mm512_set1_epi32(static_cast<int>(1u << (bits - 1)))),
        half_minus_one(_mm512_set1_epi32(static_cast<int>((1u << (bits - 1)) - 1u))),
        one(_mm512_set1_epi32(1)),
        implicit(_mm512_set1_epi32(0x800000)),
        s(_mm_cvtsi32_si128(bits)),
        rnd_shift(_mm_cvtsi32_si128(32 - bits)),
        top(bits == 23) {}
};

template <RoundKind K>
inline __m512i bit_round(__m512i ab, __m512i xb, __m512i rnd, const BitRule& b) {
  __m512i biased;
  if constexpr (K == RoundKind::Stochastic) {
    const __m512i nr = _mm512_ternarylogic_epi32(rnd, rnd, rnd, 0x55);  // ~rnd
    biased = _mm512_add_epi32(ab, _mm512_srl_epi32(nr, b.rnd_shift));
  } else if constexpr (K == RoundKind::NearestAway) {
    biased = _mm512_add_epi32(ab, b.half);
  } else if constexpr (K == RoundKind::NearestEven) {
    // The kept significand's last bit; with s = 23 that is the implicit bit.
    const __m512i lsb = b.top ? _mm512_maskz_mov_epi32(_mm512_cmpge_epu32_mask(ab, b.implicit), b.one)
                              : _mm512_and_si512(_mm512_srl_epi32(ab, b.s), b.one);
    biased = _mm512_add_epi32(_mm512_add_epi32(ab, b.half_minus_one), lsb);
  } else if constexpr (K == RoundKind::NearestUp) {
    biased = _mm512_sub_epi32(_mm512_add_epi32(ab, b.half), _mm512_srli_epi32(xb, 31));
  } else if constexpr (K == RoundKind::TowardZero) {
    biased = ab;
  } else if constexpr (K == RoundKind::Up) {  // away from zero when positive
    biased = _mm512_add_epi32(ab, _mm512_andnot_si512(_mm512_srai_epi32(xb, 31), b.low));
  } else {  // away from zero when negative
    biased = _mm512_add_epi32(ab, _mm512_and_si512(_mm512_srai_epi32(xb, 31), b.low));
  }
  return _mm512_andnot_si512(b.low, biased);
}

template <RoundKind K, bool Track, class Src>
void float_fast(const float* x, float* out, float* mask, const Src& src, int64_t n,
                const FloatFast& f, bool stream, Tally& tally) {
  const __m512i inf = _mm512_set1_epi32(static_cast<int>(kInfBits));
  const __m512i maxb = _mm512_set1_epi32(static_cast<int>(f.max_bits));
  const __m512i ovfb = _mm512_set1_epi32(static_cast<int>(f.ovf_bits));
  const __m512i infb = _mm512_set1_epi32(static_cast<int>(f.inf_bits));
  const __m512i sub_below = _mm512_set1_epi32(static_cast<int>(f.sub_below));
  const bool inf_clamps = f.inf_bits != kInfBits;
  // Where an inf input gives what a finite overflow gives (the directed modes' overflow
  // depends on the sign, an inf input's does not).
  constexpr bool kSignFreeOverflow =
      K != RoundKind::TowardZero && K != RoundKind::Up && K != RoundKind::Down;
  const bool inf_as_overflow =
      kSignFreeOverflow && f.inf_bits == f.ovf_bits && f.max_bits < kInfBits;
  const bool saturating = inf_as_overflow && f.ovf_bits == f.max_bits;
  const BitRule rule(f.s);
  const Grid sub_grid = f.sub;
  for_vectors(n, src, [&](int64_t i, __mmask16 live, auto tail, __m512i r_in) {
    const __m512 xv = load_x(x + i, live, tail);
    const __m512i xb = _mm512_castps_si512(xv);
    const __m512i ab = _mm512_and_si512(xb, abs_mask());
    const __mmask16 neg = _mm512_movepi32_mask(xb);
    __m512i rb = bit_round<K>(ab, xb, r_in, rule);
    const __mmask16 sub = _mm512_mask_cmplt_epu32_mask(_mm512_test_epi32_mask(ab, ab), ab, sub_below);
    if (sub) [[unlikely]] {
      const __m512 r2 = grid_round<K>(_mm512_castsi512_ps(ab), neg, r_in, sub_grid);
      rb = _mm512_mask_mov_epi32(rb, sub, _mm512_castps_si512(r2));
    }
    if (!Track && inf_as_overflow) {
      // An inf input rounds to inf's own bits, above max, so it takes the overflow result,
      // which is what it must give here; NaN is put back after.
      if (saturating)
        rb = _mm512_min_epu32(rb, maxb);
      else
        rb = _mm512_mask_mov_epi32(rb, _mm512_cmpgt_epu32_mask(rb, maxb), ovfb);
      rb = _mm512_mask_mov_epi32(rb, _mm512_cmpgt_epu32_mask(ab, inf), ab);  // NaN stays
      store_y(out + i, live, with_sign(rb, xb), stream, tail);
      return;
    }
    const __mmask16 finite = _mm512_cmplt_epu32_mask(ab, inf);
    const __mmask16 over = _mm512_mask_cmpgt_epu32_mask(finite, rb, maxb);
    __m512i ovf;
    if constexpr (K == RoundKind::TowardZero) ovf = maxb;
    else if constexpr (K == RoundKind::Up) ovf = _mm512_mask_blend_epi32(neg, ovfb, maxb);
    else if constexpr (K == RoundKind::Down) ovf = _mm512_mask_blend_epi32(neg, maxb, ovfb);
    else ovf = ovfb;
    rb = _mm512_mask_mov_epi32(rb, over, ovf);
    const __mmask16 is_inf = _mm512_cmpeq_epi32_mask(ab, inf);
    rb = _mm512_mask_mov_epi32(rb, is_inf, infb);
    rb = _mm512_mask_mov_epi32(rb, _mm512_cmpgt_epu32_mask(ab, inf), ab);  // NaN stays
    const __m512 y = with_sign(rb, xb);
    store_y(out + i, live, y, stream, tail);
    if constexpr (Track)
      tally.add(live, over | (inf_clamps ? is_inf : static_cast<__mmask16>(0)), ab, y,
                mask ? mask + i : nullptr);
  });
}

}  // namespace qtorch::quant::cpu

#endif
