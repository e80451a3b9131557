// Philox4x32-10 counter-based random numbers (Salmon et al., SC'11), shared by the CPU
// and CUDA backends so that the same (seed, offset, index) gives the same bits anywhere
// (philox_bits, philox_uniform; philox_normal calls logf and cosf, whose CUDA versions may
// differ from the C library's in the last bit or two).
// Element i of a stream at `offset` uses word i % 4 of the block at counter offset + i / 4.
#pragma once

#include <cmath>
#include <cstdint>

#include "qtorch/core/hostdevice.h"

namespace qtorch {

struct PhiloxBlock {
  uint32_t w[4];
};

QTORCH_HD uint32_t philox_mulhi(uint32_t a, uint32_t b) {
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
}

/// Ten rounds of Philox4x32 on counter (c0..c3) with key (k0, k1).
QTORCH_HD PhiloxBlock philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                    uint32_t k0, uint32_t k1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0 = philox_mulhi(kMul0, c0), lo0 = kMul0 * c0;
    uint32_t hi1 = philox_mulhi(kMul1, c2), lo1 = kMul1 * c2;
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return {{c0, c1, c2, c3}};
}

/// The four words of block `block` of the stream keyed by `seed`.
QTORCH_HD PhiloxBlock philox_block(uint64_t seed, uint64_t block) {
  return philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0u, 0u,
                       static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

/// Word j (0..3) of block b. Selects, not b.w[j]: a dynamic index puts the block in a GPU
/// thread's local memory.
QTORCH_HD uint32_t philox_word(const PhiloxBlock& b, uint32_t j) {
  return j < 2u ? (j == 0u ? b.w[0] : b.w[1]) : (j == 2u ? b.w[2] : b.w[3]);
}

/// 32 random bits for element i of the stream (seed, offset).
QTORCH_HD uint32_t philox_bits(uint64_t seed, uint64_t offset, uint64_t i) {
  return philox_word(philox_block(seed, offset + (i >> 2)), static_cast<uint32_t>(i & 3));
}

/// philox_bits that keeps the last block it made: a reader of consecutive elements makes
/// each block once instead of once per word. One cache serves one seed.
struct PhiloxWordCache {
  PhiloxBlock block{};
  uint64_t index = ~uint64_t{0};  // the block held (none at first: no stream reaches 2^64 - 1)

  QTORCH_HD uint32_t bits(uint64_t seed, uint64_t offset, uint64_t i) {
    const uint64_t b = offset + (i >> 2);
    if (b != index) {
      block = philox_block(seed, b);
      index = b;
    }
    return philox_word(block, static_cast<uint32_t>(i & 3));
  }
};

/// Uniform float in [0, 1) with 24 random bits.
QTORCH_HD float bits_to_uniform(uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

QTORCH_HD float philox_uniform(uint64_t seed, uint64_t offset, uint64_t i) {
  return bits_to_uniform(philox_bits(seed, offset, i));
}

/// Standard normal for element i by Box-Muller on words 0 and 1 of block offset + i.
QTORCH_HD float philox_normal(uint64_t seed, uint64_t offset, uint64_t i) {
  PhiloxBlock b = philox_block(seed, offset + i);
  float u1 = (static_cast<float>(b.w[0] >> 8) + 1.0f) * (1.0f / 16777216.0f);  // (0, 1]
  float u2 = bits_to_uniform(b.w[1]);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864f * u2);
}

}  // namespace qtorch
