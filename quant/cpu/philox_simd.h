// Philox4x32-10 words for a run of consecutive blocks, in element order (word w of block
// block0 + j lands at out[4j + w], as philox_bits maps them): 16 blocks per AVX-512 step
// (structure of arrays, one vpmuludq per 32x32->64 product), scalar elsewhere.
#pragma once

#include <cstdint>

#include "qtorch/core/philox.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace qtorch::quant::cpu {

#if defined(__AVX512F__)
/// Philox4x32-10 under one key, 16 blocks (64 words) per group. Each half-group keeps 8
/// blocks in 64-bit lanes (the low 32 bits are the word; the high ones are ignored by
/// vpmuludq and dropped at the end), so a 32x32->64 product is one vpmuludq with both
/// halves in place. SoA lane l (0..15 over the two halves) holds block 4 * (l % 4) + l / 4,
/// so that after the in-lane 4x4 transposes, output vector j holds blocks 4j .. 4j + 3,
/// i.e. elements 16j .. 16j + 15 of the group.
class PhiloxSimd {
 public:
  explicit PhiloxSimd(uint64_t seed) {
    const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
    for (int r = 0; r < 10; ++r) {
      key0_[r] = _mm512_set1_epi64(static_cast<uint32_t>(k0 + static_cast<uint32_t>(r) * kWeyl0));
      key1_[r] = _mm512_set1_epi64(static_cast<uint32_t>(k1 + static_cast<uint32_t>(r) * kWeyl1));
    }
  }

  /// The words of blocks base .. base + 16 * G - 1 in element order, 4 vectors per group.
  /// G = 2 runs four independent 8-block chains, which keeps the multipliers busy despite
  /// each round's multiply -> shift -> xor latency (3 or more chains spill registers).
  template <int G>
  inline void groups(uint64_t base, __m512i out[4 * G]) const {
    const __m512i blocks_a = _mm512_setr_epi64(0, 4, 8, 12, 1, 5, 9, 13);
    const __m512i blocks_b = _mm512_setr_epi64(2, 6, 10, 14, 3, 7, 11, 15);
    __m512i st[G][2][4];
    for (int k = 0; k < G; ++k) {
      start(base + 16u * static_cast<uint64_t>(k), blocks_a, st[k][0]);
      start(base + 16u * static_cast<uint64_t>(k), blocks_b, st[k][1]);
    }
    for (int r = 1; r < 10; ++r)
      for (int k = 0; k < G; ++k) {
        round(r, st[k][0]);
        round(r, st[k][1]);
      }
    for (int k = 0; k < G; ++k) words(st[k][0], st[k][1], out + 4 * k);
  }

 private:
  static constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  static constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  __m512i key0_[10], key1_[10];

  inline void start(uint64_t first, __m512i lanes, __m512i st[4]) const {
    const __m512i c = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(first)), lanes);
    // Round 1 with c2 = c3 = 0: the c2 product is zero.
    st[3] = _mm512_mul_epu32(c, _mm512_set1_epi64(kMul0));
    st[2] = _mm512_xor_si512(_mm512_srli_epi64(st[3], 32), key1_[0]);
    st[0] = _mm512_xor_si512(_mm512_srli_epi64(c, 32), key0_[0]);
    st[1] = _mm512_setzero_si512();
  }
  inline void round(int r, __m512i st[4]) const {
    const __m512i p0 = _mm512_mul_epu32(st[0], _mm512_set1_epi64(kMul0));
    const __m512i p1 = _mm512_mul_epu32(st[2], _mm512_set1_epi64(kMul1));
    st[0] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p1, 32), st[1], key0_[r], 0x96);
    st[2] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0, 32), st[3], key1_[r], 0x96);
    st[1] = p1;
    st[3] = p0;
  }
  static inline void words(const __m512i a[4], const __m512i b[4], __m512i out[4]) {
    const __m512i low_words =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i c0 = _mm512_permutex2var_epi32(a[0], low_words, b[0]);
    const __m512i c1 = _mm512_permutex2var_epi32(a[1], low_words, b[1]);
    const __m512i c2 = _mm512_permutex2var_epi32(a[2], low_words, b[2]);
    const __m512i c3 = _mm512_permutex2var_epi32(a[3], low_words, b[3]);
    const __m512i t0 = _mm512_unpacklo_epi32(c0, c1), t1 = _mm512_unpackhi_epi32(c0, c1);
    const __m512i t2 = _mm512_unpacklo_epi32(c2, c3), t3 = _mm512_unpackhi_epi32(c2, c3);
    out[0] = _mm512_unpacklo_epi64(t0, t2);
    out[1] = _mm512_unpackhi_epi64(t0, t2);
    out[2] = _mm512_unpacklo_epi64(t1, t3);
    out[3] = _mm512_unpackhi_epi64(t1, t3);
  }
};
#endif

/// Writes 64 * ngroups words: the words of blocks block0 .. block0 + 16 * ngroups - 1.
inline void philox_fill_groups(uint64_t seed, uint64_t block0, int64_t ngroups,
                               uint32_t* __restrict out) {
#if defined(__AVX512F__)
  const PhiloxSimd gen(seed);
  int64_t g = 0;
  for (; g + 2 <= ngroups; g += 2) {
    __m512i w[8];
    gen.groups<2>(block0 + static_cast<uint64_t>(g) * 16u, w);
    for (int k = 0; k < 8; ++k) _mm512_storeu_si512(out + 64 * g + 16 * k, w[k]);
  }
  if (g < ngroups) {
    __m512i w[4];
    gen.groups<1>(block0 + static_cast<uint64_t>(g) * 16u, w);
    for (int k = 0; k < 4; ++k) _mm512_storeu_si512(out + 64 * g + 16 * k, w[k]);
  }
#else
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int64_t j = 0; j < 16 * ngroups; ++j) {
    const uint64_t c = block0 + static_cast<uint64_t>(j);
    PhiloxBlock b =
        philox4x32_10(static_cast<uint32_t>(c), static_cast<uint32_t>(c >> 32), 0u, 0u, k0, k1);
    for (int w = 0; w < 4; ++w) out[4 * j + w] = b.w[w];
  }
#endif
}

}  // namespace qtorch::quant::cpu
