// CPU quantize kernels: fixed chunks of the flat index (OpenMP only for large tensors),
// Philox bits generated per chunk (one block per 4 elements, all four words used), then
// the AVX-512 kernels of quant/cpu/fast_kernels.h where their preconditions hold, else the
// branch-free scalar loop over the rounding core. Both give the same bits.

#include "qtorch/quant/cpu/quantize_cpu.h"
#include "qtorch/core/cpu/parallel.h"

#include <omp.h>

#include <algorithm>
#include <strings.h>

#include <cmath>  // core/philox.h uses logf/sqrtf/cosf
#include <cstdlib>
#include <type_traits>
#include <vector>

#include "qtorch/quant/cpu/exact_subnormals.h"
#include "qtorch/quant/cpu/fast_kernels.h"
#include "qtorch/quant/cpu/quantize_microscaling_cpu.h"
#include "qtorch/quant/cpu/philox_simd.h"
#include "qtorch/quant/round_kind_dispatch.h"
#include "qtorch/quant/rounding_core.h"

namespace qtorch::quant {
namespace {

// Elements per task; a multiple of 64 so chunks start on a 16-block Philox group.
constexpr int64_t kChunk = 4096;
// Below this many elements one thread does the work: a parallel region costs more than
// it saves. What a region costs depends on how idle OpenMP workers wait. Sleeping ones
// (OMP_WAIT_POLICY=passive, or GOMP_SPINCOUNT=0) take tens of microseconds to wake, so
// only large tensors are split (MLP block8, 2 cores: 68 000 samples/s at 2^18, 50 000 at
// 2^16). Spinning ones (libgomp's default, or qtrain's short spin) start at once, and
// training-sized tensors gain (94 000 samples/s at 2^16, 84 000 at 2^18).
int64_t parallel_min() {
  static const int64_t value = [] {
    const char* policy = std::getenv("OMP_WAIT_POLICY");
    const char* spins = std::getenv("GOMP_SPINCOUNT");
    // GOMP_SPINCOUNT is a count with an optional k/M/G... suffix, or "infinite".
    const bool no_spins = spins != nullptr && strncasecmp(spins, "inf", 3) != 0 &&
                          std::strtoll(spins, nullptr, 10) == 0;
    const bool sleeping = (policy != nullptr && strcasecmp(policy, "passive") == 0) || no_spins;
    return sleeping ? int64_t{1} << 18 : int64_t{1} << 16;
  }();
  return value;
}
// From this many elements (16 MiB out, 32 MiB with the input: past the shared L3 cache)
// an existing output bypasses the caches (non-temporal stores): it cannot stay cached
// anyway, and streaming saves the read-for-ownership of every output line. A freshly
// allocated output is written normally: each page is zeroed by the kernel on first touch,
// so its lines are in cache already (measured: streaming there is ~10% slower).
constexpr int64_t kStreamMin = int64_t{1} << 22;

// One functor per family: the per-element rule with its (per-call or per-block) constants.
template <RoundKind K>
struct FixedOp {
  QuantParams p;
  float operator()(float x, uint32_t r, uint32_t& c) const { return quantize_fixed<K>(x, p, r, c); }
};
template <RoundKind K>
struct FloatOp {
  QuantParams p;
  float operator()(float x, uint32_t r, uint32_t& c) const { return quantize_float<K>(x, p, r, c); }
};
template <RoundKind K>
struct BlockOp {
  BlockScale s;
  float operator()(float x, uint32_t r, uint32_t& c) const { return quantize_block<K>(x, s, r, c); }
};

/// Block floating point where every element is a block of its own (a 1-D tensor with
/// dim 0): the scale comes from the element itself.
template <RoundKind K>
struct OwnBlockOp {
  int32_t wl;
  float operator()(float x, uint32_t r, uint32_t& c) const {
    return quantize_block<K>(x, block_scale(float_bits(x) & kAbsMask, wl), r, c);
  }
};

struct Counts {
  int64_t clamped = 0, flushed = 0;
};

/// The scalar loop over a run of elements sharing one op (x and out may alias); an op that
/// also takes the element's index in the run gets it. Per element it records events (bit 0
/// clamped, bit 1 flushed) instead of counting, which keeps the loop free of reductions so
/// that it vectorises; then counts them.
template <RoundKind K, bool Track, class Op>
void generic_segment(const Op& op, const float* x, float* out, float* mask,
                     const uint32_t* __restrict rnd, uint32_t* __restrict events, int64_t n,
                     Counts& counts) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t c;
    float xi = x[i];
    const uint32_t r = K == RoundKind::Stochastic ? rnd[i] : 0u;
    float y;
    if constexpr (std::is_invocable_v<const Op&, float, uint32_t, uint32_t&, int64_t>) {
      y = op(xi, r, c, i);
    } else {
      y = op(xi, r, c);
    }
    if constexpr (Track) events[i] = c | (flushed_to_zero(xi, y) ? 2u : 0u);
    out[i] = y;
  }
  if constexpr (Track) {
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
}

/// max over i of float_bits(x[i]) & 0x7fffffff.
uint32_t max_abs_bits_of(const float* x, int64_t n) {
#if QTORCH_QUANT_AVX512
  return cpu::max_abs_bits(x, n);
#else
  uint32_t m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, float_bits(x[i]) & kAbsMask);
  return m;
#endif
}

/// What of a block's largest magnitude its scale depends on: the biased exponent, read
/// as block_scale reads it (subnormal maxima as 1; 255 for NaN or inf).
uint32_t block_scale_key(uint32_t max_abs_bits) { return std::max(max_abs_bits >> 23, 1u); }

/// Largest magnitude bits per block (x seen as [outer, blocks, inner]).
std::vector<uint32_t> block_max_bits(const float* x, int64_t n, const QuantParams& p) {
  std::vector<uint32_t> result(static_cast<size_t>(p.blocks), 0u);
  if (p.blocks == 1 && n < parallel_min()) {
    result[0] = max_abs_bits_of(x, n);
    return result;
  }
  if (p.blocks == 1) {
    const int64_t nchunks = (n + kChunk - 1) / kChunk;
    uint32_t m = 0;
    auto chunk_max = [&](int64_t c) { return max_abs_bits_of(x + c * kChunk, std::min(kChunk, n - c * kChunk)); };
    if (qtorch::cpu::use_threads(true)) {
#pragma omp parallel for schedule(static) reduction(max : m)
      for (int64_t c = 0; c < nchunks; ++c) m = std::max(m, chunk_max(c));
    } else {
      for (int64_t c = 0; c < nchunks; ++c) m = std::max(m, chunk_max(c));
    }
    result[0] = m;
    return result;
  }
  const int64_t rows = p.outer * p.blocks;
  // Rows [begin, end) into `into` (row r is block r mod blocks, counted along, not divided);
  // a row of one element (one block per column) is read in place, not through a call.
  auto rows_max = [&](int64_t begin, int64_t end, std::vector<uint32_t>& into) {
    int64_t j = begin % p.blocks;
    for (int64_t r = begin; r < end; ++r) {
      const uint32_t m = p.inner == 1 ? float_bits(x[r]) & kAbsMask : max_abs_bits_of(x + r * p.inner, p.inner);
      into[static_cast<size_t>(j)] = std::max(into[static_cast<size_t>(j)], m);
      if (++j == p.blocks) j = 0;
    }
  };
  if (n < parallel_min()) {
    rows_max(0, rows, result);
    return result;
  }
  qtorch::cpu::parallel_region(true, [&] {
    std::vector<uint32_t> local(static_cast<size_t>(p.blocks), 0u);
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    rows_max(rows * t / threads, rows * (t + 1) / threads, local);
#pragma omp critical(qtorch_block_max)
    for (size_t j = 0; j < local.size(); ++j) result[j] = std::max(result[j], local[j]);
  });
  return result;
}


/// One block's scale and, where the AVX-512 kernel applies, its grid.
struct BlockKernel {
  BlockScale scale;
  bool fast = false;
#if QTORCH_QUANT_AVX512
  cpu::Grid grid{};
#endif
};

BlockKernel make_block_kernel(uint32_t max_abs_bits, int32_t wl, bool allow_fast) {
  BlockKernel k;
  k.scale = block_scale(max_abs_bits, wl);
#if QTORCH_QUANT_AVX512
  k.fast = allow_fast && !k.scale.nan && cpu::grid_supported(k.scale.q);
  if (k.fast) k.grid = cpu::make_grid(k.scale.q);
#else
  (void)allow_fast;
#endif
  return k;
}

/// Blocks along the last axis (x seen as [outer, blocks, 1]: one block per column): element
/// i of a run along a row takes block i of `blocks` (the run's first column's).
template <RoundKind K>
struct ColumnBlockOp {
  const BlockKernel* blocks;
  float operator()(float x, uint32_t r, uint32_t& c, int64_t i) const {
    return quantize_block<K>(x, blocks[i].scale, r, c);
  }
};

/// Per-call choices: which kernel each family (each block) takes.
struct Plan {
  bool allow_fast = false;
  bool fast = false;  // fixed / float: the AVX-512 kernel applies
  /// Block floating point with one block and an output apart from the input: the scale
  /// is found while quantizing (see run), not by a pass of its own; `blocks` stays empty.
  bool block_one_pass = false;
  /// Block floating point with one block per contiguous row (dim 0, or the last dim of
  /// one row): each row's scale is found just before the row is quantized, from cache;
  /// `blocks` stays empty.
  bool block_rows = false;
  std::vector<BlockKernel> blocks;  // otherwise: per block, in block order
#if QTORCH_QUANT_AVX512
  cpu::Grid grid{};  // fixed point
  cpu::FloatFast ff{};
#endif
};

Plan make_plan(const float* x, const float* out, int64_t n, const QuantParams& p,
               bool allow_fast) {
  Plan plan;
  plan.allow_fast = allow_fast;
  if (p.family == QuantFamily::Block) {
    const bool apart = x + n <= out || out + n <= x;
    plan.block_one_pass = p.blocks == 1 && apart;
    plan.block_rows = p.blocks > 1 && p.outer == 1 && p.inner > 1;
    const bool own_blocks = p.blocks > 1 && p.outer == 1 && p.inner == 1;
    if (!plan.block_one_pass && !plan.block_rows && !own_blocks)
      for (uint32_t m : block_max_bits(x, n, p))
        plan.blocks.push_back(make_block_kernel(m, p.wl, allow_fast));
  }
#if QTORCH_QUANT_AVX512
  if (!allow_fast) return plan;
  if (p.family == QuantFamily::Fixed) {
    plan.fast = cpu::grid_supported(p.q);
    if (plan.fast) plan.grid = cpu::make_grid(p.q);
  } else if (p.family == QuantFamily::Float) {
    cpu::FloatFast& f = plan.ff;
    f.s = 23 - p.man;
    // With emin = -126 and subnormals (qsub = -126 - man) the subnormal grid continues
    // binade -126's (float32 subnormal bits are a fixed-point number in its ulp), so the
    // bit rule covers them; without subnormals they go to the grid 2^qsub = 2^-126.
    const bool uniform = p.emin == -126 && p.qsub == p.emin - p.man;
    f.sub_below = uniform ? 0u : pow2_bits(p.emin);
    plan.fast = f.s >= 1 && (uniform || cpu::grid_supported(p.qsub));
    if (plan.fast && !uniform) f.sub = cpu::make_grid(p.qsub);
    f.max_bits = p.max_bits;
    f.ovf_bits = p.ovf_bits;
    f.inf_bits = p.inf_bits;
  }
#endif
  return plan;
}

template <RoundKind K, bool Track>
void run(const float* x, float* out, float* mask, int64_t n, const QuantParams& p, uint64_t seed,
         uint64_t offset, const uint32_t* given_rnd, bool fresh_output, const Plan& plan,
         Counts& total) {
  constexpr bool kStochastic = K == RoundKind::Stochastic;
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  const bool stream = !fresh_output && n >= kStreamMin && reinterpret_cast<uintptr_t>(out) % 64 == 0 &&
                      (mask == nullptr || reinterpret_cast<uintptr_t>(mask) % 64 == 0);
  (void)stream;
  // One-pass block: each thread's largest magnitude so far, published for the others.
  std::vector<uint32_t> thread_max(plan.block_one_pass ? static_cast<size_t>(omp_get_max_threads()) : 0);
  int64_t clamped = 0, flushed = 0;
  // One thread's part of the work, its counts added to its own clamped and flushed (the
  // region's reduction), on the CPU threads or, when the work is one thread's, outside OpenMP.
  auto part = [&](int64_t& clamped, int64_t& flushed) {
    const cpu::ExactSubnormals exact_subnormals;
    alignas(64) uint32_t rnd[kStochastic ? kChunk : 1];
    alignas(64) uint32_t events[Track ? kChunk : 1];
#if QTORCH_QUANT_AVX512
    const cpu::PhiloxSimd gen(seed);
#endif
    // This thread's chunks (a static split: the results do not depend on it).
    const int threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t begin = nchunks * t / threads, end = nchunks * (t + 1) / threads;

    // block_rows: a row's kernel is made from the row just before the row is quantized.
    // Rows inside this thread's range are written by this thread alone; the (at most two)
    // rows it shares with its neighbours get their kernels before anyone writes (the
    // barrier), since the output may be the input.
    auto make_row_kernel = [&](int64_t row) {
      // Rows shorter than a vector take the scalar loop: no grid to make.
      return make_block_kernel(max_abs_bits_of(x + row * p.inner, p.inner), p.wl,
                               plan.allow_fast && p.inner >= 16);
    };
    int64_t kernel_row = -1, head_row = -1, tail_row = -1;
    BlockKernel row_kernel, head_kernel, tail_kernel;
    if (plan.block_rows && begin < end) {
      const int64_t first = begin * kChunk, last = std::min(end * kChunk, n) - 1;
      if (first % p.inner != 0) head_kernel = make_row_kernel(head_row = first / p.inner);
      if ((last + 1) % p.inner != 0) tail_kernel = make_row_kernel(tail_row = last / p.inner);
    }
    if (plan.block_rows) {
#pragma omp barrier
    }
    auto kernel_of_row = [&](int64_t row) -> const BlockKernel& {
      if (row == head_row) return head_kernel;
      if (row == tail_row) return tail_kernel;
      if (row != kernel_row) {
        row_kernel = make_row_kernel(row);
        kernel_row = row;
      }
      return row_kernel;
    };
    // Quantizes chunk c; a block family takes `single` as its one block's kernel.
    auto quantize_chunk = [&](int64_t c, const BlockKernel* single) {
      const int64_t i0 = c * kChunk, len = std::min(kChunk, n - i0);
      // The chunk's random words in a buffer, made on first use: the scalar loop and short
      // block pieces read them there; the fast kernels make theirs in registers.
      bool filled = false;
      auto buffer = [&]() -> uint32_t* {
        if (kStochastic && !filled) {
          if (given_rnd)
            std::copy(given_rnd + i0, given_rnd + i0 + len, rnd);
          else
            cpu::philox_fill_groups(seed, offset + static_cast<uint64_t>(i0 / 4), (len + 63) / 64, rnd);
          filled = true;
        }
        return rnd;
      };
      float* m = mask ? mask + i0 : nullptr;
      Counts counts;
#if QTORCH_QUANT_AVX512
      cpu::Tally tally;
      // Calls kernel(src) with the random words of the segment at element k of the chunk.
      // Philox blocks hold 4 words, so registers need a segment starting on a block.
      auto with_words = [&](int64_t k, int64_t seg_len, auto&& kernel) {
        if constexpr (!kStochastic)
          kernel(cpu::NoBits{});
        else if (given_rnd == nullptr && (i0 + k) % 4 == 0 && (seg_len >= 64 || k == 0))
          kernel(cpu::PhiloxBits{&gen, offset + static_cast<uint64_t>((i0 + k) / 4)});
        else
          kernel(cpu::BufferBits{buffer() + k});
      };
#endif
      if (p.family == QuantFamily::Fixed) {
#if QTORCH_QUANT_AVX512
        if (plan.fast)
          with_words(0, len, [&](const auto& src) {
            cpu::fixed_fast<K, Track>(x + i0, out + i0, m, src, len, plan.grid, p.lo, p.hi, stream,
                                      tally);
          });
        else
#endif
          generic_segment<K, Track>(FixedOp<K>{p}, x + i0, out + i0, m, buffer(), events, len,
                                    counts);
      } else if (p.family == QuantFamily::Float) {
#if QTORCH_QUANT_AVX512
        if (plan.fast)
          with_words(0, len, [&](const auto& src) {
            cpu::float_fast<K, Track>(x + i0, out + i0, m, src, len, plan.ff, stream, tally);
          });
        else
#endif
          generic_segment<K, Track>(FloatOp<K>{p}, x + i0, out + i0, m, buffer(), events, len,
                                    counts);
      } else if (p.outer == 1 && p.inner == 1 && p.blocks > 1) {
        generic_segment<K, Track>(OwnBlockOp<K>{p.wl}, x + i0, out + i0, m, buffer(), events, len,
                                  counts);
      } else if (p.inner == 1 && p.blocks > 1) {
        // One block per column: the chunk in runs along its rows, each one call.
        for (int64_t i = i0; i < i0 + len;) {
          const int64_t column = i % p.blocks, run = std::min(i0 + len - i, p.blocks - column), k = i - i0;
          generic_segment<K, Track>(ColumnBlockOp<K>{plan.blocks.data() + column}, x + i, out + i,
                                    m ? m + k : nullptr, buffer() + k, events + (Track ? k : 0), run, counts);
          i += run;
        }
      } else {
        // Pieces of the chunk that lie in one row of one block (one piece: a single block).
        for (int64_t i = i0; i < i0 + len;) {
          const int64_t row = i / p.inner;
          const int64_t end = p.blocks == 1 ? i0 + len : std::min(i0 + len, (row + 1) * p.inner);
          const BlockKernel& bk = single           ? *single
                                  : plan.block_rows ? kernel_of_row(row)
                                                    : plan.blocks[static_cast<size_t>(row % p.blocks)];
          const int64_t k = i - i0;
#if QTORCH_QUANT_AVX512
          if (bk.fast && (end - i >= 16 || p.blocks == 1))
            with_words(k, end - i, [&](const auto& src) {
              cpu::block_fast<K, Track>(x + i, out + i, m ? m + k : nullptr, src, end - i, bk.grid,
                                        bk.scale.sat, stream && (i % 16 == 0), tally);
            });
          else
#endif
            generic_segment<K, Track>(BlockOp<K>{bk.scale}, x + i, out + i, m ? m + k : nullptr,
                                      buffer() + k, events + (Track ? k : 0), end - i, counts);
          i = end;
        }
      }
#if QTORCH_QUANT_AVX512
      counts.clamped += tally.clamped();
      counts.flushed += tally.flushed();
#endif
      return counts;
    };

    if (!plan.block_one_pass) {
      for (int64_t c = begin; c < end; ++c) {
        const Counts counts = quantize_chunk(c, nullptr);
        clamped += counts.clamped;
        flushed += counts.flushed;
      }
    } else {
      // One block, one pass in the common case. Each thread quantizes its chunks with the
      // scale of the largest magnitude it has seen so far (a chunk's maximum is taken just
      // before the chunk is quantized, from cache). After a barrier every thread knows the
      // block's maximum, and redoes only the chunks it quantized with a smaller scale: the
      // result is always that of the block's true scale, whatever the thread count.
      uint32_t seen = 0;
      BlockKernel bk = make_block_kernel(seen, p.wl, plan.allow_fast);
      int64_t settled = begin;  // first chunk quantized with the current scale
      Counts since;             // counts of the chunks from `settled` on
      for (int64_t c = begin; c < end; ++c) {
        const int64_t i0 = c * kChunk;
        const uint32_t chunk_max = max_abs_bits_of(x + i0, std::min(kChunk, n - i0));
        if (block_scale_key(chunk_max) > block_scale_key(seen)) {
          bk = make_block_kernel(chunk_max, p.wl, plan.allow_fast);
          settled = c;
          since = Counts{};
        }
        seen = std::max(seen, chunk_max);
        const Counts counts = quantize_chunk(c, &bk);
        since.clamped += counts.clamped;
        since.flushed += counts.flushed;
      }
      thread_max[static_cast<size_t>(t)] = seen;
#pragma omp barrier
      uint32_t block_max = 0;
      for (int u = 0; u < threads; ++u) block_max = std::max(block_max, thread_max[static_cast<size_t>(u)]);
      int64_t redo_end = end;
      if (block_scale_key(block_max) == block_scale_key(seen)) {
        redo_end = settled;
        clamped += since.clamped;
        flushed += since.flushed;
      }
      const BlockKernel final_bk = make_block_kernel(block_max, p.wl, plan.allow_fast);
      for (int64_t c = begin; c < redo_end; ++c) {
        const Counts counts = quantize_chunk(c, &final_bk);
        clamped += counts.clamped;
        flushed += counts.flushed;
      }
    }
#if QTORCH_QUANT_AVX512
    if (stream) _mm_sfence();  // order the streamed stores before the region ends
#endif
  };
  if (qtorch::cpu::use_threads(n >= parallel_min())) {
#pragma omp parallel reduction(+ : clamped, flushed)
    part(clamped, flushed);
  } else {
    part(clamped, flushed);
  }
  total.clamped += clamped;
  total.flushed += flushed;
}

template <bool Track>
void dispatch_kind(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
                   uint64_t seed, uint64_t offset, const uint32_t* given_rnd, bool fresh_output,
                   const Plan& plan, Counts& counts) {
  with_round_kind(p.kind, [&](auto kind) {
    run<decltype(kind)::value, Track>(x, out, mask, n, p, seed, offset, given_rnd, fresh_output, plan, counts);
  });
}

void quantize_cpu_impl(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
                       uint64_t seed, uint64_t offset, const uint32_t* given_rnd,
                       QuantStats* stats, bool allow_fast, bool fresh_output) {
  if (p.family == QuantFamily::MX || p.family == QuantFamily::NVFP4)
    return quantize_microscaling_cpu(x, out, mask, n, p, seed, offset, given_rnd, stats);
  const Plan plan = make_plan(x, out, n, p, allow_fast);
  Counts counts;
  if (stats != nullptr || mask != nullptr)
    dispatch_kind<true>(x, out, mask, n, p, seed, offset, given_rnd, fresh_output, plan, counts);
  else
    dispatch_kind<false>(x, out, mask, n, p, seed, offset, given_rnd, fresh_output, plan, counts);
  if (stats) *stats = QuantStats{counts.clamped, counts.flushed, n};
}

}  // namespace

void quantize_cpu(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
                  uint64_t seed, uint64_t offset, QuantStats* stats, bool fresh_output) {
  quantize_cpu_impl(x, out, mask, n, p, seed, offset, nullptr, stats, true, fresh_output);
}

void quantize_cpu_reference(const float* x, float* out, float* mask, int64_t n,
                            const QuantParams& p, uint64_t seed, uint64_t offset,
                            QuantStats* stats) {
  quantize_cpu_impl(x, out, mask, n, p, seed, offset, nullptr, stats, false, false);
}

void quantize_cpu_with_bits(const float* x, float* out, float* mask, int64_t n,
                            const QuantParams& p, const uint32_t* rnd, QuantStats* stats,
                            bool fast) {
  quantize_cpu_impl(x, out, mask, n, p, 0, 0, rnd, stats, fast, false);
}

bool quantize_cpu_has_fast_kernels() {
#if QTORCH_QUANT_AVX512
  return true;
#else
  return false;
#endif
}

}  // namespace qtorch::quant
