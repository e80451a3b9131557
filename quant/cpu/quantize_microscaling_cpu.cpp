// CPU kernels of the block-scaled formats (MX, NVFP4): x seen as [outer, len, inner] with
// blocks of p.block indices along len. Block (o, j) covers the flat range
// [(o len + j B) inner, (o len + min(len, (j+1) B)) inner), so blocks in (o, j) order tile
// the flat index: chunks of whole blocks are split among OpenMP threads, each block is
// read once for its largest magnitudes (one per inner index) and once to quantize, from
// cache. Element i's random word is Philox word i of the call's stream, as everywhere, so
// the bits do not depend on the thread count.

#include "qtorch/quant/cpu/quantize_microscaling_cpu.h"
#include "qtorch/core/cpu/parallel.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "qtorch/quant/cpu/exact_subnormals.h"
#include "qtorch/quant/cpu/fast_kernels.h"
#include "qtorch/quant/cpu/microscaling_fast.h"
#include "qtorch/quant/cpu/philox_simd.h"
#include "qtorch/quant/microscaling_core.h"
#include "qtorch/quant/round_kind_dispatch.h"

namespace qtorch::quant {
namespace {

// Elements per chunk of blocks (at least one block per chunk).
constexpr int64_t kChunk = 8192;
constexpr int64_t kParallelMin = int64_t{1} << 16;
// Blocks whose scales are computed together (a vector of 8 doubles for NVFP4).
constexpr int64_t kScaleBatch = 8;
// Blocks whose scales are found before their elements are quantized (a multiple of
// kScaleBatch; 64 blocks of 32 are 8 KiB of input, well inside a 32 KiB L1).
constexpr int64_t kGroup = 64;

/// max over i of float_bits(x[i]) & 0x7fffffff.
uint32_t max_abs_bits_of(const float* x, int64_t n) {
#if QTORCH_QUANT_AVX512
  if (n >= 16) return cpu::max_abs_bits(x, n);
#endif
  uint32_t m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, float_bits(x[i]) & kAbsMask);
  return m;
}

/// The largest magnitude bits among the finite elements of a piece of x.
uint32_t max_finite_abs_bits_of(const float* x, int64_t n) {
#if QTORCH_QUANT_AVX512
  return cpu::max_finite_abs_bits(x, n);
#else
  uint32_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t a = float_bits(x[i]) & kAbsMask;
    m = std::max(m, a < kInfBits ? a : 0u);
  }
  return m;
#endif
}

/// The largest magnitude bits among the finite elements (NVFP4's tensor-wide pass).
uint32_t max_finite_abs_bits(const float* x, int64_t n) {
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  uint32_t m = 0;
  auto chunk_max = [&](int64_t c) { return max_finite_abs_bits_of(x + c * kChunk, std::min(kChunk, n - c * kChunk)); };
  if (qtorch::cpu::use_threads(n >= kParallelMin)) {
#pragma omp parallel for schedule(static) reduction(max : m)
    for (int64_t c = 0; c < nchunks; ++c) m = std::max(m, chunk_max(c));
  } else {
    for (int64_t c = 0; c < nchunks; ++c) m = std::max(m, chunk_max(c));
  }
  return m;
}

#if QTORCH_QUANT_AVX512
using NVFP4Steps = cpu::NVFP4Steps;
#else
struct NVFP4Steps {};
#endif
struct NoSteps {};

template <RoundKind K>
struct MXRule {
  static constexpr bool kIsMX = true;
  ElementFormat element;
  using Scale = MXScale;
  using Steps = NoSteps;
  Scale scale(uint32_t max_abs_bits) const { return mx_scale(max_abs_bits, element); }
  void scales(const uint32_t* max_abs_bits, int n, Scale* out, Steps&) const {
    for (int i = 0; i < n; ++i) out[i] = scale(max_abs_bits[i]);
  }
  float operator()(float x, const Scale& s, uint32_t r, uint32_t& c) const {
    return quantize_mx<K>(x, s, r, c);
  }
};

template <RoundKind K>
struct NVFP4Rule {
  static constexpr bool kIsMX = false;
  float g;
  using Scale = NVFP4Scale;
  using Steps = NVFP4Steps;  // the batch's step thresholds (AVX-512 kernel)
  Scale scale(uint32_t max_abs_bits) const { return nvfp4_block_scale(max_abs_bits, g); }
  void scales(const uint32_t* max_abs_bits, int n, Scale* out, [[maybe_unused]] Steps& steps) const {
#if QTORCH_QUANT_AVX512
    cpu::nvfp4_block_scales<K>(max_abs_bits, n, g, out, steps);
#else
    for (int i = 0; i < n; ++i) out[i] = scale(max_abs_bits[i]);
#endif
  }
  float operator()(float x, const Scale& s, uint32_t r, uint32_t& c) const {
    return quantize_nvfp4<K>(x, s, r, c);
  }
};

struct Counts {
  int64_t clamped = 0, flushed = 0;
};

/// Quantizes n elements that share the scale s (x and out may alias).
template <RoundKind K, bool Track, class Rule>
void quantize_run(const Rule& rule, const typename Rule::Scale& s, const float* x, float* out,
                  float* mask, const uint32_t* rnd, int64_t n, Counts& counts) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t c;
    const float xi = x[i];
    const float y = rule(xi, s, K == RoundKind::Stochastic ? rnd[i] : 0u, c);
    out[i] = y;
    if constexpr (Track) {
      counts.clamped += c;
      counts.flushed += flushed_to_zero(xi, y) ? 1 : 0;
      if (mask) mask[i] = static_cast<float>(c);
    }
  }
}

template <RoundKind K, bool Track, class Rule>
void run(const Rule& rule, const float* x, float* out, float* mask, int64_t n,
         const QuantParams& p, uint64_t seed, uint64_t offset, const uint32_t* given_rnd,
         Counts& total) {
  constexpr bool kStochastic = K == RoundKind::Stochastic;
  const int64_t B = p.block, L = p.len, inner = p.inner;
  const int64_t per_row = (L + B - 1) / B;  // blocks along one [len] line
  const int64_t nblocks = p.outer * per_row;
  // Blocks along the contiguous axis (inner == 1): chunks of whole blocks, about kChunk
  // elements. Blocks down columns (inner > 1): items of one block and a slab of its columns,
  // about kChunk elements, so that a tensor of few block rows still splits over the threads
  // and its random words come a slab at a time.
  const int64_t blocks_per_chunk = std::max<int64_t>(1, kChunk / B);
  const int64_t slab = std::max<int64_t>(16, 4 * kChunk / B / 16 * 16);  // columns of an item
  const int64_t slabs = inner > 1 ? (inner + slab - 1) / slab : 0;
  const int64_t nitems = inner == 1 ? (nblocks + blocks_per_chunk - 1) / blocks_per_chunk : nblocks * slabs;
  // Flat index where block u starts (u = nblocks: n).
  auto block_begin = [&](int64_t u) {
    const int64_t o = u / per_row, j = u % per_row;
    return (o * L + std::min(L, j * B)) * inner;
  };
  int64_t clamped = 0, flushed = 0;
  // One thread's part of the work, its counts added to its own clamped and flushed (the
  // region's reduction), on the CPU threads or, when the work is one thread's, outside OpenMP.
  auto part = [&](int64_t& clamped, int64_t& flushed) {
    const cpu::ExactSubnormals exact_subnormals;
    std::vector<uint32_t> bits;
    // A group's block starts (and the end), scales and step thresholds (inner == 1).
    const size_t group = inner == 1 ? static_cast<size_t>(kGroup) : 0;
    std::vector<int64_t> begin(group + 1);
    std::vector<typename Rule::Scale> group_scales(group);
    std::vector<typename Rule::Steps> group_steps(group / kScaleBatch);
#if QTORCH_QUANT_AVX512
    const cpu::BitRule bit_rule(23 - p.element.man);
#endif
#pragma omp for schedule(static)
    for (int64_t item = 0; item < nitems; ++item) {
      Counts counts;
#if QTORCH_QUANT_AVX512
      cpu::Tally tally;
#endif
      if (inner == 1) {
        const int64_t u0 = item * blocks_per_chunk, u1 = std::min(nblocks, u0 + blocks_per_chunk);
        const int64_t i0 = block_begin(u0), i1 = u1 == nblocks ? n : block_begin(u1);
        // The chunk's random words: rnd[k] belongs to element i0 + k.
        const uint32_t* rnd = nullptr;
        if (kStochastic && given_rnd) {
          rnd = given_rnd + i0;
        } else if (kStochastic) {
          const int64_t lead = i0 % 4, groups = (i1 - i0 + lead + 63) / 64;
          bits.resize(static_cast<size_t>(groups * 64));
          cpu::philox_fill_groups(seed, offset + static_cast<uint64_t>(i0 / 4), groups, bits.data());
          rnd = bits.data() + lead;
        }
        // kGroup blocks at a time: first every block's largest magnitude and scale (kScaleBatch
        // blocks per call, NVFP4 computing them in one vector), then every block's elements,
        // from cache. The scales of one batch do not wait for the elements of the last.
        int64_t o = u0 / per_row, j = u0 % per_row;  // block (o, j) is the next to start
        for (int64_t g0 = u0; g0 < u1; g0 += kGroup) {
          const int64_t ng = std::min(kGroup, u1 - g0);
          for (int64_t k = 0; k <= ng; ++k) {
            begin[static_cast<size_t>(k)] = g0 + k == nblocks ? n : o * L + std::min(L, j * B);
            if (k < ng && ++j == per_row) {
              j = 0;
              ++o;
            }
          }
          for (int64_t b = 0; b < ng; b += kScaleBatch) {
            const int nb = static_cast<int>(std::min(kScaleBatch, ng - b));
            const int64_t* bb = begin.data() + b;
            uint32_t maxima[kScaleBatch];
#if QTORCH_QUANT_AVX512
            if (nb == kScaleBatch && B % 16 == 0 && bb[nb] - bb[0] == kScaleBatch * B)
              cpu::block_max_abs_bits8(x + bb[0], B, maxima);
            else
#endif
              for (int k = 0; k < nb; ++k) maxima[k] = max_abs_bits_of(x + bb[k], bb[k + 1] - bb[k]);
            rule.scales(maxima, nb, group_scales.data() + b, group_steps[static_cast<size_t>(b / kScaleBatch)]);
          }
          for (int64_t k = 0; k < ng; ++k) {
            const int64_t b0 = begin[static_cast<size_t>(k)], len = begin[static_cast<size_t>(k + 1)] - b0;
            const auto& s = group_scales[static_cast<size_t>(k)];
            const uint32_t* r = kStochastic ? rnd + (b0 - i0) : nullptr;
            float* m = mask ? mask + b0 : nullptr;
#if QTORCH_QUANT_AVX512
            if constexpr (Rule::kIsMX) {
              if (len % 16 == 0 && cpu::mx_fast_supported(s)) {
                cpu::mx_block_fast<K, Track>(x + b0, out + b0, m, r, len, s, bit_rule, tally);
                continue;
              }
            } else {
              if (!s.nan && !s.zero) {
                cpu::nvfp4_block_fast<K, Track>(x + b0, out + b0, m, r, len, s,
                                                group_steps[static_cast<size_t>(k / kScaleBatch)],
                                                static_cast<int>(k % kScaleBatch), tally);
                continue;
              }
            }
#endif
            quantize_run<K, Track>(rule, s, x + b0, out + b0, m, r, len, counts);
          }
        }
      } else {
        const int64_t u = item / slabs;
        const int64_t first_column = item % slabs * slab, last_column = std::min(inner, first_column + slab);
        const int64_t b0 = block_begin(u), b1 = u + 1 == nblocks ? n : block_begin(u + 1);
        // The item's random words by row: row_words(row, k) + c is the word of element
        // row + first_column + c, for the block's rows row = b0 + k inner, k = 0, 1, ...
        const int64_t row_stride = (last_column - first_column + 3 + 63) / 64 * 64;
        if (kStochastic && !given_rnd) {
          bits.resize(static_cast<size_t>((b1 - b0) / inner * row_stride));
          for (int64_t row = b0, k = 0; row < b1; row += inner, ++k) {
            const int64_t e = row + first_column;
            cpu::philox_fill_groups(seed, offset + static_cast<uint64_t>(e / 4),
                                    (last_column - first_column + e % 4 + 63) / 64, bits.data() + k * row_stride);
          }
        }
        auto row_words = [&](int64_t row, int64_t k) -> const uint32_t* {
          if (given_rnd) return given_rnd + row + first_column;
          return bits.data() + k * row_stride + (row + first_column) % 4;
        };
        // Sixteen adjacent columns at a time, each lane with its own block's scale; the lanes
        // the vector kernels leave (MX scales outside their rule) and builds without them take
        // the core one column at a time.
        for (int64_t k0 = first_column; k0 < last_column; k0 += 16) {
          const int columns = static_cast<int>(std::min<int64_t>(16, last_column - k0));
          const int64_t c0 = k0 - first_column;  // the columns' place in a row's words
          uint32_t done = 0;                     // the columns quantized in vectors
#if QTORCH_QUANT_AVX512
          const __mmask16 live = cpu::tail_mask(columns);
          __m512i column_max = _mm512_setzero_si512();
          for (int64_t row = b0; row < b1; row += inner)
            column_max = _mm512_max_epu32(
                column_max, _mm512_and_si512(_mm512_maskz_loadu_epi32(live, x + row + k0), cpu::abs_mask()));
          if constexpr (Rule::kIsMX) {
            const cpu::MXLanes lanes = cpu::mx_scale_lanes(column_max, live, rule.element);
            cpu::Grid grid;
            bool have_grid = false;
            done = lanes.fast | lanes.nan;
            for (int64_t row = b0, k = 0; row < b1 && done != 0; row += inner, ++k)
              cpu::mx_lanes_fast<K, Track>(x + row + k0, out + row + k0, mask ? mask + row + k0 : nullptr,
                                           kStochastic ? row_words(row, k) + c0 : nullptr, lanes, bit_rule, grid,
                                           have_grid, tally);
          } else {
            alignas(64) uint32_t maxima[16];
            _mm512_store_si512(maxima, column_max);
            cpu::NVFP4Lanes lanes;
            cpu::nvfp4_scale_lanes<K>(maxima, columns, rule.g, lanes);
            for (int64_t row = b0, k = 0; row < b1; row += inner, ++k)
              cpu::nvfp4_lanes_fast<K, Track>(x + row + k0, out + row + k0, mask ? mask + row + k0 : nullptr,
                                              kStochastic ? row_words(row, k) + c0 : nullptr, live, lanes, tally);
            done = live;
          }
#endif
          const uint32_t pending = ~done & ((1u << columns) - 1u);  // row by row, as memory lies
          if (pending == 0) continue;
          uint32_t amax[16] = {};
          typename Rule::Scale column_scale[16];
          for (int64_t row = b0; row < b1; row += inner)
            for (int c = 0; c < columns; ++c)
              if ((pending >> c) & 1u) amax[c] = std::max(amax[c], float_bits(x[row + k0 + c]) & kAbsMask);
          for (int c = 0; c < columns; ++c) column_scale[c] = rule.scale(amax[c]);
          for (int64_t row = b0, k = 0; row < b1; row += inner, ++k)
            for (int c = 0; c < columns; ++c)
              if ((pending >> c) & 1u) {
                const int64_t e = row + k0 + c;
                quantize_run<K, Track>(rule, column_scale[c], x + e, out + e, mask ? mask + e : nullptr,
                                       kStochastic ? row_words(row, k) + c0 + c : nullptr, 1, counts);
              }
        }
      }
#if QTORCH_QUANT_AVX512
      counts.clamped += tally.clamped();
      counts.flushed += tally.flushed();
#endif
      clamped += counts.clamped;
      flushed += counts.flushed;
    }
  };
  if (qtorch::cpu::use_threads(n >= kParallelMin)) {
#pragma omp parallel reduction(+ : clamped, flushed)
    part(clamped, flushed);
  } else {
    part(clamped, flushed);
  }
  total.clamped += clamped;
  total.flushed += flushed;
}

template <RoundKind K, bool Track>
void run_family(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
                uint64_t seed, uint64_t offset, const uint32_t* given_rnd, Counts& counts) {
  if (p.family == QuantFamily::MX) {
    run<K, Track>(MXRule<K>{p.element}, x, out, mask, n, p, seed, offset, given_rnd, counts);
  } else {
    const float g = nvfp4_tensor_scale(max_finite_abs_bits(x, n));
    run<K, Track>(NVFP4Rule<K>{g}, x, out, mask, n, p, seed, offset, given_rnd, counts);
  }
}

template <bool Track>
void dispatch_kind(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
                   uint64_t seed, uint64_t offset, const uint32_t* given_rnd, Counts& counts) {
  with_round_kind(p.kind, [&](auto kind) {
    run_family<decltype(kind)::value, Track>(x, out, mask, n, p, seed, offset, given_rnd, counts);
  });
}

}  // namespace

void quantize_microscaling_cpu(const float* x, float* out, float* mask, int64_t n,
                               const QuantParams& p, uint64_t seed, uint64_t offset,
                               const uint32_t* given_rnd, QuantStats* stats) {
  const cpu::ExactSubnormals exact_subnormals;  // NVFP4's tensor scale may be subnormal
  Counts counts;
  if (stats != nullptr || mask != nullptr)
    dispatch_kind<true>(x, out, mask, n, p, seed, offset, given_rnd, counts);
  else
    dispatch_kind<false>(x, out, mask, n, p, seed, offset, given_rnd, counts);
  if (stats) *stats = QuantStats{counts.clamped, counts.flushed, n};
}

}  // namespace qtorch::quant
