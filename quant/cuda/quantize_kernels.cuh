// The quantize kernels (quant/cuda/quantize_dispatch.cuh picks and launches them) and the segment
// lists that put many small jobs into one launch. One pass over memory for the elementwise
// families (Philox bits made in the kernel, 4 elements per Philox block and per 16-byte
// access, mask and counts in the same pass); block floating point rows of at most 8192
// elements in one CUDA block each, or of at most 1024 in one warp each (segments_kernel);
// element ops (ElementOps, quant/cuda/element_ops.cuh) in the same pass. Each rule is the
// shared rounding core, so the bits equal the CPU's. Plain C++ apart from the CUDA keywords and intrinsics that
// tests/support/cuda_emulation.h provides, so that tests/quant/quantize_kernels_emulated_test.cpp
// runs these kernels on the CPU.
#pragma once

#include <cstdint>
#include <vector>

#include "qtorch/core/error.h"
#include "qtorch/core/philox.h"
#include "qtorch/quant/cuda/block_maxima.cuh"
#include "qtorch/quant/cuda/counts.cuh"
#include "qtorch/quant/cuda/element_ops.cuh"
#include "qtorch/quant/quantize_cuda.h"
#include "qtorch/quant/round_kind_dispatch.h"
#include "qtorch/quant/rounding_core.h"

namespace qtorch::quant::kernels {

constexpr int kThreads = kQuantizeThreads;

template <QuantFamily F, RoundKind K>
__device__ __forceinline__ float quantize_elementwise(float x, const QuantParams& p, uint32_t rnd,
                                                      uint32_t& clamped) {
  if constexpr (F == QuantFamily::Fixed) {
    // The floating-point path (same bits, about a third of the instructions) where it applies;
    // the test is uniform over the launch.
    if constexpr (kHasFixedFpPath<K>)
      if (fixed_fp_applies(p)) return quantize_fixed_fp<K>(x, p, rnd, clamped);
    return quantize_fixed<K, true>(x, p, rnd, clamped);
  } else {
    return quantize_float_split<K>(x, p, rnd, clamped);
  }
}

/// Block floating point: the floating-point path (same bits, quant/rounding_core.h) where the
/// block's quantum allows it, else the integer core.
template <RoundKind K>
__device__ __forceinline__ float quantize_block_element(float x, const BlockScale& s, uint32_t rnd,
                                                        uint32_t& clamped) {
  if constexpr (kHasFixedFpPath<K>)
    if (block_fp_applies(s)) return quantize_block_fp<K>(x, s, rnd, clamped);
  return quantize_block<K, true>(x, s, rnd, clamped);
}

/// How a launch finds the block scale of an element group (block floating point only).
struct BlockLookup {
  const uint32_t* maxima;
  bool group_in_one_block;  // p.blocks == 1 or p.inner % 4 == 0: a group never straddles blocks
  bool index32;             // every flat index fits 32 bits
  bool self_scaled;         // p.outer == 1 and p.inner == 1: every element is a block of its own
};

/// Quantizes the group of elements 4g..4g+3 of an n-element array (those below n) with the
/// words of Philox block offset + g (element i uses word i % 4 of block offset + i / 4, as on
/// the CPU); float4 accesses when `vec` and the group is whole. The element ops' inputs are
/// what is quantized and counted, and their ReLU applies to what is stored (ElementOps, the
/// bias along the last axis only). Block floating point takes the four elements' scales from
/// scales_of(e0, v, s). Counting (compile time): the clamp mask (when not null) and the
/// clamped and flushed counts.
template <QuantFamily F, RoundKind K, bool Counting, class ScalesOf>
__device__ __forceinline__ void quantize_group(const float* x, float* out, float* mask, int64_t n, int64_t g,
                                               bool vec, const QuantParams& p, uint64_t seed, uint64_t offset,
                                               const ElementOps& ops, const ScalesOf& scales_of, Counts& counts) {
  const int64_t e0 = g * 4;
  const bool full = vec && e0 + 4 <= n;
  float v[4];
  if (full) {
    float4 f = reinterpret_cast<const float4*>(x)[g];
    v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
  } else {
#pragma unroll
    for (int k = 0; k < 4; ++k) v[k] = e0 + k < n ? x[e0 + k] : 0.0f;
  }
  before_quantize4(v, ops, g, n, full);
  PhiloxBlock r{{0u, 0u, 0u, 0u}};
  if constexpr (K == RoundKind::Stochastic) r = philox_block(seed, offset + static_cast<uint64_t>(g));
  float y[4];
  uint32_t c[4];  // the rounding core's clamp flags (0 or 1)
  if constexpr (F == QuantFamily::Block) {
    BlockScale s[4];
    scales_of(e0, v, s);
#pragma unroll
    for (int k = 0; k < 4; ++k) y[k] = quantize_block_element<K>(v[k], s[k], r.w[k], c[k]);
  } else {
#pragma unroll
    for (int k = 0; k < 4; ++k) y[k] = quantize_elementwise<F, K>(v[k], p, r.w[k], c[k]);
  }
  float m[4];
  if constexpr (Counting) {
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      m[k] = c[k] != 0 ? 1.0f : 0.0f;
      if (e0 + k < n) counts.count(c[k], v[k], y[k]);
    }
  }
#pragma unroll
  for (int k = 0; k < 4; ++k) y[k] = after_quantize(y[k], ops);
  if (full) {
    reinterpret_cast<float4*>(out)[g] = make_float4(y[0], y[1], y[2], y[3]);
    if constexpr (Counting)
      if (mask != nullptr) reinterpret_cast<float4*>(mask)[g] = make_float4(m[0], m[1], m[2], m[3]);
  } else {
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      if (e0 + k >= n) break;
      out[e0 + k] = y[k];
      if constexpr (Counting)
        if (mask != nullptr) mask[e0 + k] = m[k];
    }
  }
}

/// Every element a block of its own: its scale comes from its own magnitude.
struct SelfScales {
  int32_t wl;
  __device__ __forceinline__ void operator()(int64_t, const float (&v)[4], BlockScale (&s)[4]) const {
#pragma unroll
    for (int k = 0; k < 4; ++k) s[k] = block_scale(float_bits(v[k]) & kAbsMask, wl);
  }
};

/// Thread t quantizes groups t, t + threads, ... (grid-stride) with quantize_group.
template <QuantFamily F, RoundKind K, bool Counting>
__global__ void __launch_bounds__(kThreads)
    quantize_kernel(const float* x, float* out, float* mask, int64_t n, QuantParams p,
                    uint64_t seed, uint64_t offset, BlockLookup blocks,
                    unsigned long long* counters) {
  const int64_t groups = (n + 3) / 4;
  const bool vec = (reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(out) |
                    reinterpret_cast<uintptr_t>(mask)) % 16 == 0;
  // The block scales of a group from the maxima pass (block floating point only).
  const auto scales_of = [&](int64_t e0, const float (&v)[4], BlockScale (&s)[4]) {
    if (blocks.self_scaled) {  // no maxima pass: each element's scale is its own magnitude
      SelfScales{p.wl}(e0, v, s);
    } else if (blocks.group_in_one_block) {
      s[0] = block_scale(blocks.maxima[block_of(e0, p, blocks.index32)], p.wl);
      s[1] = s[2] = s[3] = s[0];
    } else {
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const int64_t e = e0 + k < n ? e0 + k : e0;  // past the end: any valid block
        s[k] = block_scale(blocks.maxima[block_of(e, p, blocks.index32)], p.wl);
      }
    }
  };
  Counts counts;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x)
    quantize_group<F, K, Counting>(x, out, mask, n, g, vec, p, seed, offset, ElementOps{}, scales_of, counts);
  if constexpr (Counting) counts.add_to(counters);
}

// ---- segments: many small jobs in one launch (the rows of a block floating point tensor,
// and the tensors of a list) ----

/// Groups of 4 elements per thread in one CUDA block of segments_kernel: rows of up to
/// kSegmentElements = 8192 elements, and elementwise chunks of that size.
constexpr int kRowGroups = 8;
constexpr int64_t kSegmentElements = 4 * kRowGroups * kThreads;
static_assert(kSegmentElements == kMaxSegmentRow, "block_rows_in_one_launch (quantize_cuda.h) names this limit");

/// Rows of at most kWarpRowElements = 1024 elements (16-byte aligned, a multiple of 4) take
/// one warp each, kWarpRowsPerBlock to a CUDA block: the same kRowGroups groups per lane,
/// reduced by warp shuffles without a block barrier. (A CUDA block per row of 1024 would
/// keep one 16-byte load per thread in flight, and its block-wide barrier, per 4 KB.)
constexpr int kWarpLanes = 32;
constexpr int64_t kWarpRowElements = 4 * kRowGroups * kWarpLanes;
constexpr int kWarpRowsPerBlock = kThreads / kWarpLanes;

/// The work of CUDA blocks [first_block, the next segment's first_block) of segments_kernel:
/// all of a tensor x of n elements (through its element ops), quantized into out (and
/// mask) with the random words of Philox blocks offset, offset + 1, ... (as one
/// quantize_kernel call would).
struct Segment {
  const float* x;
  float* out;
  float* mask;
  int64_t n;
  uint64_t offset;
  ElementOps ops;
  /// > 0: block floating point with one block per contiguous row of `row` elements (at
  /// most kSegmentElements); CUDA block b of the segment quantizes row b (warp_rows: rows
  /// 8b..8b+7, one per warp). 0: CUDA block b
  /// quantizes elements [b, b + 1) * kSegmentElements elementwise (block floating point:
  /// each element its own block).
  int64_t row;
  uint32_t first_block = 0;  // the segment's first CUDA block in the list, set by SegmentLauncher::add
  bool vec;  // x, out, mask and the gate 16-byte aligned and (rows) the row a multiple of 4 elements
  bool warp_rows = false;  // rows: vec and row <= kWarpRowElements, so CUDA block b takes rows 8b..8b+7, a warp each
};

/// A launch's segments, passed by value: 36 of them (96 bytes each) stay inside the 4 KB of
/// kernel parameters.
constexpr int kMaxSegments = 36;
struct SegmentList {
  Segment at[kMaxSegments];
  int count = 0;
  uint32_t blocks = 0;  // CUDA blocks of all the segments
};
static_assert(sizeof(SegmentList) + sizeof(QuantParams) + sizeof(uint64_t) + sizeof(void*) <= 4096,
              "segments_kernel's parameters must fit the 4 KB of a launch");

/// Row `row` of s (s.vec): the threads load the row into registers (group g of the row by
/// thread g % kThreads, or with InWarp by lane g % 32 of one warp), reduce its largest
/// magnitude bits (an integer max, as the two-pass path's atomics), and quantize from the
/// registers with the row's scale: one read of x.
template <RoundKind K, bool Counting, bool InWarp>
__device__ __forceinline__ void quantize_row_in_registers(const Segment& s, int64_t row, const QuantParams& p,
                                                          uint64_t seed, Counts& counts) {
  constexpr int kStride = InWarp ? kWarpLanes : kThreads;
  const int first = InWarp ? static_cast<int>(threadIdx.x % kWarpLanes) : static_cast<int>(threadIdx.x);
  const int64_t row_groups = s.row / 4;
  const int64_t first_group = row * row_groups;
  const float4* xr = reinterpret_cast<const float4*>(s.x) + first_group;
  float4 v[kRowGroups];
  uint32_t m = 0;
#pragma unroll
  for (int k = 0; k < kRowGroups; ++k) {
    const int64_t g = first + static_cast<int64_t>(k) * kStride;
    v[k] = g < row_groups ? xr[g] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (s.ops.gate != nullptr && g < row_groups) {  // x's layout, aligned (add_rows)
      const float4 o = reinterpret_cast<const float4*>(s.ops.gate)[first_group + g];
      v[k] = make_float4(relu_grad(o.x, v[k].x), relu_grad(o.y, v[k].y), relu_grad(o.z, v[k].z),
                         relu_grad(o.w, v[k].w));
    }
    if (s.ops.bias.values != nullptr && g < row_groups) {  // one row long and aligned (add_rows)
      const float4 b = reinterpret_cast<const float4*>(s.ops.bias.values)[g];
      v[k] = make_float4(__fadd_rn(v[k].x, b.x), __fadd_rn(v[k].y, b.y), __fadd_rn(v[k].z, b.z),
                         __fadd_rn(v[k].w, b.w));
    }
    m = max_bits(m, max_bits(max_bits(abs_bits(v[k].x), abs_bits(v[k].y)), max_bits(abs_bits(v[k].z), abs_bits(v[k].w))));
  }
  const BlockScale bs = block_scale(InWarp ? __reduce_max_sync(0xffffffffu, m) : block_max(m), p.wl);
#pragma unroll
  for (int k = 0; k < kRowGroups; ++k) {
    const int64_t g = first + static_cast<int64_t>(k) * kStride;
    if (g < row_groups) {
      const int64_t group = first_group + g;
      PhiloxBlock r{{0u, 0u, 0u, 0u}};
      if constexpr (K == RoundKind::Stochastic) r = philox_block(seed, s.offset + static_cast<uint64_t>(group));
      const float in[4] = {v[k].x, v[k].y, v[k].z, v[k].w};
      float y[4];
      uint32_t c[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) y[j] = quantize_block_element<K>(in[j], bs, r.w[j], c[j]);
      if constexpr (Counting) {
        if (s.mask != nullptr)
          reinterpret_cast<float4*>(s.mask)[group] =
              make_float4(c[0] ? 1.0f : 0.0f, c[1] ? 1.0f : 0.0f, c[2] ? 1.0f : 0.0f, c[3] ? 1.0f : 0.0f);
#pragma unroll
        for (int j = 0; j < 4; ++j) counts.count(c[j], in[j], y[j]);
      }
      reinterpret_cast<float4*>(s.out)[group] = make_float4(after_quantize(y[0], s.ops), after_quantize(y[1], s.ops),
                                                            after_quantize(y[2], s.ops), after_quantize(y[3], s.ops));
    }
  }
}

/// Row `row` of s with scalar accesses (any alignment and length): one read for the row's
/// largest magnitude, a second (from cache) to quantize. Each thread takes whole 4-element
/// groups of the tensor, one Philox block each, and the group's elements inside the row.
/// In place is safe: the row is read whole before block_max's barrier, and each element is
/// then read and written by one thread.
template <RoundKind K, bool Counting>
__device__ __forceinline__ void quantize_row_two_reads(const Segment& s, int64_t row, const QuantParams& p,
                                                       uint64_t seed, Counts& counts) {
  const int64_t begin = row * s.row, end = begin + s.row;
  uint32_t m = 0;
  for (int64_t e = begin + threadIdx.x; e < end; e += kThreads)
    m = max_bits(m, abs_bits(before_quantize<true>(s.x[e], s.ops, e)));
  const BlockScale bs = block_scale(block_max(m), p.wl);
  for (int64_t g = begin / 4 + threadIdx.x; g * 4 < end; g += kThreads) {
    PhiloxBlock r{{0u, 0u, 0u, 0u}};
    if constexpr (K == RoundKind::Stochastic) r = philox_block(seed, s.offset + static_cast<uint64_t>(g));
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int64_t e = g * 4 + k;
      if (e < begin || e >= end) continue;
      const float v = before_quantize<true>(s.x[e], s.ops, e);
      uint32_t c;
      const float y = quantize_block_element<K>(v, bs, r.w[k], c);
      if constexpr (Counting) {
        if (s.mask != nullptr) s.mask[e] = c ? 1.0f : 0.0f;
        counts.count(c, v, y);
      }
      s.out[e] = after_quantize(y, s.ops);
    }
  }
}

/// Chunk `chunk` of s: its groups, elementwise (quantize_group, each element its own block
/// for block floating point).
template <QuantFamily F, RoundKind K, bool Counting>
__device__ __forceinline__ void quantize_chunk(const Segment& s, int64_t chunk, const QuantParams& p, uint64_t seed,
                                               Counts& counts) {
  const int64_t groups = (s.n + 3) / 4;
  const int64_t first = chunk * (kSegmentElements / 4);
#pragma unroll
  for (int k = 0; k < kRowGroups; ++k) {
    const int64_t g = first + threadIdx.x + static_cast<int64_t>(k) * kThreads;
    if (g < groups)
      quantize_group<F, K, Counting>(s.x, s.out, s.mask, s.n, g, s.vec, p, seed, s.offset, s.ops, SelfScales{p.wl},
                                     counts);
  }
}

/// CUDA block b finds its segment (uniform over the block) and does that segment's part.
template <QuantFamily F, RoundKind K, bool Counting>
__device__ __forceinline__ void run_segments(const SegmentList& list, const QuantParams& p, uint64_t seed,
                                             unsigned long long* counters) {
  int i = 0;
  while (i + 1 < list.count && blockIdx.x >= list.at[i + 1].first_block) ++i;
  const Segment& s = list.at[i];
  const int64_t local = blockIdx.x - s.first_block;
  Counts counts;
  if (F == QuantFamily::Block && s.row > 0) {
    if (s.warp_rows) {
      const int64_t row = local * kWarpRowsPerBlock + threadIdx.x / kWarpLanes;  // the same for the whole warp
      if (row < s.n / s.row) quantize_row_in_registers<K, Counting, true>(s, row, p, seed, counts);
    } else if (s.vec) {
      quantize_row_in_registers<K, Counting, false>(s, local, p, seed, counts);
    } else {
      quantize_row_two_reads<K, Counting>(s, local, p, seed, counts);
    }
  } else {
    quantize_chunk<F, K, Counting>(s, local, p, seed, counts);
  }
  if constexpr (Counting) counts.add_to(counters);
}

/// Fixed and floating point: elementwise chunks, at the compiler's own 32-48 registers.
template <QuantFamily F, RoundKind K, bool Counting>
__global__ void __launch_bounds__(kThreads)
    segments_kernel(SegmentList list, QuantParams p, uint64_t seed, unsigned long long* counters) {
  run_segments<F, K, Counting>(list, p, seed, counters);
}

/// Block floating point: a row's 32 values per thread in registers. Without a bound the
/// stochastic, counted instance takes 98 registers (2 CUDA blocks per SM); three blocks per
/// SM cap them at 80. ptxas of nvcc 13.0.88 (sm_90) then spills 12-28 bytes (to L1) in the
/// counted instances and the uncounted stochastic one; whether that costs more than a third
/// fewer resident blocks waits for a device run (bench/gpu_quantize, the block rows).
template <RoundKind K, bool Counting>
__global__ void __launch_bounds__(kThreads, 3)
    block_segments_kernel(SegmentList list, QuantParams p, uint64_t seed, unsigned long long* counters) {
  run_segments<QuantFamily::Block, K, Counting>(list, p, seed, counters);
}

/// The kernel for a family: block floating point rows have their own (bounded registers).
template <QuantFamily F, RoundKind K, bool Counting>
constexpr auto segments_kernel_for() {
  if constexpr (F == QuantFamily::Block) return &block_segments_kernel<K, Counting>;
  else return &segments_kernel<F, K, Counting>;
}

/// Collects segments of one format and rounding and launches segments_kernel when the list
/// is full and at flush(). Launch: how a kernel runs, launch(kernel, grid, threads, args...)
/// (cuda::QueuedLaunch in the library; the tests run it on the CPU).
template <class Launch>
class SegmentLauncher {
 public:
  SegmentLauncher(const QuantParams& p, uint64_t seed, unsigned long long* counters, Launch launch)
      : p_(p), seed_(seed), counters_(counters), launch_(launch) {}

  /// A block floating point tensor whose blocks are contiguous rows (p.outer == 1) of
  /// `row` elements, at most kSegmentElements; a bias spans whole rows.
  void add_rows(const float* x, float* out, float* mask, int64_t n, int64_t row, uint64_t offset,
                const ElementOps& ops = {}) {
    const BiasAdd& bias = ops.bias;
    // From registers with a bias only when it is exactly one row (a linear layer's, read as
    // float4); any other bias (a convolution's, per channel) takes the scalar path.
    const bool bias_fits = bias.values == nullptr || (bias.inner == 1 && bias.period == row);
    const bool vec = aligned(x, out, mask, ops) && row % 4 == 0 && bias_fits;
    const bool warp_rows = vec && row <= kWarpRowElements;
    const int64_t rows = row > 0 ? n / row : 0;
    add(Segment{.x = x, .out = out, .mask = mask, .n = n, .offset = offset, .ops = ops, .row = row, .vec = vec,
                .warp_rows = warp_rows},
        warp_rows ? (rows + kWarpRowsPerBlock - 1) / kWarpRowsPerBlock : rows);
  }
  /// A tensor quantized elementwise (fixed, float, or block floating point with each element
  /// its own block); a bias along the last axis only (inner 1).
  void add_chunks(const float* x, float* out, float* mask, int64_t n, uint64_t offset, const ElementOps& ops = {}) {
    add(Segment{.x = x, .out = out, .mask = mask, .n = n, .offset = offset, .ops = ops, .row = 0,
                .vec = aligned(x, out, mask, ops)},
        (n + kSegmentElements - 1) / kSegmentElements);
  }

  void flush() {
    if (list_.count == 0) return;
    with_round_kind(p_.kind, [&](auto kind) {
      constexpr RoundKind K = decltype(kind)::value;
      switch (p_.family) {
        case QuantFamily::Fixed: launch<QuantFamily::Fixed, K>(); break;
        case QuantFamily::Float: launch<QuantFamily::Float, K>(); break;
        case QuantFamily::Block: launch<QuantFamily::Block, K>(); break;
        default: QTORCH_FAIL("quantize (cuda): segments take fixed, float and block formats, got family {}",
                             static_cast<int>(p_.family));
      }
    });
    list_ = SegmentList{};
    counting_ = false;
  }

 private:
  static constexpr int64_t kMaxBlocks = (int64_t{1} << 31) - 1;  // gridDim.x

  /// Whether every array a segment reads and writes as float4 is 16-byte aligned.
  static bool aligned(const float* x, const float* out, const float* mask, const ElementOps& ops) {
    return (reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(out) | reinterpret_cast<uintptr_t>(mask) |
            reinterpret_cast<uintptr_t>(ops.bias.values) | reinterpret_cast<uintptr_t>(ops.gate)) %
               16 ==
           0;
  }

  void add(Segment s, int64_t blocks) {
    if (s.n <= 0) return;
    QTORCH_CHECK(blocks <= kMaxBlocks, "quantize (cuda): a tensor of {} elements is too large for one launch", s.n);
    if (list_.count == kMaxSegments || list_.blocks + blocks > kMaxBlocks) flush();
    s.first_block = list_.blocks;
    list_.at[list_.count++] = s;
    list_.blocks += static_cast<uint32_t>(blocks);
    counting_ = counting_ || s.mask != nullptr || counters_ != nullptr;
  }

  template <QuantFamily F, RoundKind K>
  void launch() {
    const auto kernel = counting_ ? segments_kernel_for<F, K, true>() : segments_kernel_for<F, K, false>();
    launch_(kernel, list_.blocks, kThreads, list_, p_, seed_, counters_);
  }

  QuantParams p_;
  uint64_t seed_;
  unsigned long long* counters_;
  Launch launch_;
  SegmentList list_{};
  bool counting_ = false;
};

/// One segments launch for one tensor: block floating point rows (one CUDA block each), or
/// elementwise chunks (fixed, float, single-element blocks); element ops where
/// element_ops_in_one_pass allows them (else an error naming the layout).
template <class Launch>
void quantize_in_segments(const float* x, float* out, float* mask, int64_t n, const QuantParams& p, uint64_t seed,
                          uint64_t offset, unsigned long long* counts, const ElementOps& ops, Launch launch) {
  QTORCH_CHECK(!ops.any() || element_ops_in_one_pass(p, n, ops.bias),
               "quantize (cuda): element ops in the same pass need fixed point, floating point or block floating "
               "point in one launch (rows spanning a bias); got family {}, bias period {}, inner {}",
               static_cast<int>(p.family), ops.bias.period, ops.bias.inner);
  SegmentLauncher<Launch> launcher(p, seed, counts, launch);
  if (p.family == QuantFamily::Block && !block_self_scaled(p))
    launcher.add_rows(x, out, mask, n, p.inner, offset, ops);
  else
    launcher.add_chunks(x, out, mask, n, offset, ops);
  launcher.flush();
}

/// quantize_list_cuda's list: the items segments_kernel takes go into as few launches as the
/// list allows; each other item goes to alone(item), in list order.
template <class Launch, class Alone>
void quantize_list_in_segments(const std::vector<QuantizeListItem>& items, uint64_t seed, unsigned long long* counts,
                               Launch launch, Alone alone) {
  if (items.empty()) return;
  const QuantParams& first = items.front().p;
  SegmentLauncher<Launch> launcher(first, seed, counts, launch);
  for (const QuantizeListItem& item : items) {
    const QuantParams& p = item.p;
    QTORCH_CHECK(p.family == first.family && p.kind == first.kind && p.wl == first.wl,
                 "quantize (cuda): expected one format and rounding for the whole list");
    if (item.n <= 0) continue;
    const bool block = p.family == QuantFamily::Block;
    if (p.family == QuantFamily::Fixed || p.family == QuantFamily::Float || (block && block_self_scaled(p)))
      launcher.add_chunks(item.x, item.x, nullptr, item.n, item.offset);
    else if (block && block_rows_in_one_launch(p))
      launcher.add_rows(item.x, item.x, nullptr, item.n, p.inner, item.offset);
    else  // blocks across rows, rows past 8192, MX, NVFP4: a call of its own
      alone(item);
  }
  launcher.flush();
}

}  // namespace qtorch::quant::kernels
