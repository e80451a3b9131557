// CPU quantize kernels: OpenMP over fixed chunks of the flat index, Philox bits generated
// per chunk (one block per 4 elements, all four words used), and a branch-free inner loop
// over the rounding core that g++ -O3 -march=native vectorises.
#include "quant/cpu/quantize_cpu.h"

#include <omp.h>

#include <algorithm>
#include <cmath>  // core/philox.h uses logf/sqrtf/cosf
#include <vector>

#include "core/philox.h"
#include "quant/rounding_core.h"

namespace qtorch::quant {
namespace {

// Elements per task; a multiple of 4 so chunks start on a Philox block boundary.
constexpr int64_t kChunk = 4096;

/// out[4j + w] = word w of Philox block block0 + j (= philox_bits(seed, 4 * block0 + ...)).
void fill_random(uint64_t seed, uint64_t block0, int64_t nblocks, uint32_t* __restrict out) {
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int64_t j = 0; j < nblocks; ++j) {
    uint64_t c = block0 + static_cast<uint64_t>(j);
    PhiloxBlock b =
        philox4x32_10(static_cast<uint32_t>(c), static_cast<uint32_t>(c >> 32), 0u, 0u, k0, k1);
    out[4 * j] = b.w[0];
    out[4 * j + 1] = b.w[1];
    out[4 * j + 2] = b.w[2];
    out[4 * j + 3] = b.w[3];
  }
}

// One functor per family: the per-element rule with its (per-call or per-block) constants.
template <RoundKind K>
struct FixedOp {
  QuantParams p;
  QTORCH_HD float operator()(float x, uint32_t r, uint32_t& c) const {
    return quantize_fixed<K>(x, p, r, c);
  }
};
template <RoundKind K>
struct FloatOp {
  QuantParams p;
  QTORCH_HD float operator()(float x, uint32_t r, uint32_t& c) const {
    return quantize_float<K>(x, p, r, c);
  }
};
template <RoundKind K>
struct BlockOp {
  BlockScale s;
  QTORCH_HD float operator()(float x, uint32_t r, uint32_t& c) const {
    return quantize_block<K>(x, s, r, c);
  }
};

struct Counts {
  int64_t clamped = 0, flushed = 0;
};

/// The inner loop over a run of elements sharing one op. x and out may alias (in place).
/// Per element it records events (bit 0 clamped, bit 1 flushed) instead of counting, which
/// keeps the loop free of reductions so that it vectorises.
/// Without Track (no stats and no mask requested) the events are not recorded at all.
template <RoundKind K, bool Track, class Op>
void run_segment(const Op& op, const float* x, float* out, const uint32_t* __restrict rnd,
                 uint32_t* __restrict events, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t c;
    float xi = x[i];
    float y = op(xi, K == RoundKind::Stochastic ? rnd[i] : 0u, c);
    if constexpr (Track) events[i] = c | (flushed_to_zero(xi, y) ? 2u : 0u);
    out[i] = y;
  }
}

/// Counts a chunk's events and writes its part of the clamp mask.
void tally(const uint32_t* __restrict events, float* __restrict mask, int64_t n, Counts& counts) {
  uint32_t clamped = 0, flushed = 0;
  for (int64_t i = 0; i < n; ++i) {
    clamped += events[i] & 1u;
    flushed += events[i] >> 1;
  }
  if (mask)
    for (int64_t i = 0; i < n; ++i) mask[i] = static_cast<float>(events[i] & 1u);
  counts.clamped += clamped;
  counts.flushed += flushed;
}

/// Largest magnitude bits per block (x seen as [outer, blocks, inner]).
std::vector<uint32_t> block_max_bits(const float* x, int64_t n, const QuantParams& p) {
  std::vector<uint32_t> result(static_cast<size_t>(p.blocks), 0u);
  auto row_max = [](const float* row, int64_t len) {
    uint32_t m = 0;
    for (int64_t i = 0; i < len; ++i) m = std::max(m, float_bits(row[i]) & kAbsMask);
    return m;
  };
  if (p.blocks == 1) {
    const int64_t nchunks = (n + kChunk - 1) / kChunk;
    uint32_t m = 0;
#pragma omp parallel for schedule(static) reduction(max : m) if (nchunks > 1)
    for (int64_t c = 0; c < nchunks; ++c)
      m = std::max(m, row_max(x + c * kChunk, std::min(kChunk, n - c * kChunk)));
    result[0] = m;
    return result;
  }
  const int64_t rows = p.outer * p.blocks;
#pragma omp parallel if (n > kChunk)
  {
    std::vector<uint32_t> local(static_cast<size_t>(p.blocks), 0u);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      size_t j = static_cast<size_t>(r % p.blocks);
      local[j] = std::max(local[j], row_max(x + r * p.inner, p.inner));
    }
#pragma omp critical(qtorch_block_max)
    for (size_t j = 0; j < local.size(); ++j) result[j] = std::max(result[j], local[j]);
  }
  return result;
}

template <RoundKind K, bool Track>
void run(const float* x, float* out, float* mask, int64_t n, const QuantParams& p, uint64_t seed,
         uint64_t offset, const BlockScale* scales, Counts& total) {
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  int64_t clamped = 0, flushed = 0;
#pragma omp parallel reduction(+ : clamped, flushed) if (nchunks > 1)
  {
    alignas(64) uint32_t rnd[kChunk];
    alignas(64) uint32_t events[kChunk];
#pragma omp for schedule(static)
    for (int64_t c = 0; c < nchunks; ++c) {
      const int64_t i0 = c * kChunk, len = std::min(kChunk, n - i0);
      if constexpr (K == RoundKind::Stochastic)
        fill_random(seed, offset + static_cast<uint64_t>(i0 / 4), (len + 3) / 4, rnd);
      if (p.family == QuantFamily::Fixed) {
        run_segment<K, Track>(FixedOp<K>{p}, x + i0, out + i0, rnd, events, len);
      } else if (p.family == QuantFamily::Float) {
        run_segment<K, Track>(FloatOp<K>{p}, x + i0, out + i0, rnd, events, len);
      } else {
        // Pieces of the chunk that lie in one row of one block.
        for (int64_t i = i0; i < i0 + len;) {
          const int64_t row = i / p.inner;
          const int64_t end = std::min(i0 + len, (row + 1) * p.inner);
          run_segment<K, Track>(BlockOp<K>{scales[row % p.blocks]}, x + i, out + i, rnd + (i - i0),
                         events + (i - i0), end - i);
          i = end;
        }
      }
      if constexpr (Track) {
        Counts counts;
        tally(events, mask ? mask + i0 : nullptr, len, counts);
        clamped += counts.clamped;
        flushed += counts.flushed;
      }
    }
  }
  total.clamped += clamped;
  total.flushed += flushed;
}

template <bool Track>
void dispatch_kind(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
                   uint64_t seed, uint64_t offset, const BlockScale* s, Counts& counts) {
  switch (p.kind) {
    case RoundKind::Stochastic: return run<RoundKind::Stochastic, Track>(x, out, mask, n, p, seed, offset, s, counts);
    case RoundKind::NearestAway: return run<RoundKind::NearestAway, Track>(x, out, mask, n, p, seed, offset, s, counts);
    case RoundKind::NearestEven: return run<RoundKind::NearestEven, Track>(x, out, mask, n, p, seed, offset, s, counts);
    case RoundKind::NearestUp: return run<RoundKind::NearestUp, Track>(x, out, mask, n, p, seed, offset, s, counts);
    case RoundKind::TowardZero: return run<RoundKind::TowardZero, Track>(x, out, mask, n, p, seed, offset, s, counts);
    case RoundKind::Up: return run<RoundKind::Up, Track>(x, out, mask, n, p, seed, offset, s, counts);
    case RoundKind::Down: return run<RoundKind::Down, Track>(x, out, mask, n, p, seed, offset, s, counts);
  }
}

}  // namespace

void quantize_cpu(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
                  uint64_t seed, uint64_t offset, QuantStats* stats) {
  std::vector<BlockScale> scales;
  if (p.family == QuantFamily::Block) {
    std::vector<uint32_t> maxima = block_max_bits(x, n, p);
    scales.reserve(maxima.size());
    for (uint32_t m : maxima) scales.push_back(block_scale(m, p.wl));
  }
  const BlockScale* s = scales.data();
  Counts counts;
  if (stats != nullptr || mask != nullptr) {
    dispatch_kind<true>(x, out, mask, n, p, seed, offset, s, counts);
  } else {
    dispatch_kind<false>(x, out, mask, n, p, seed, offset, s, counts);
  }
  if (stats) *stats = QuantStats{counts.clamped, counts.flushed, n};
}

}  // namespace qtorch::quant
