// The CUDA kernels of the block-scaled formats (MX, NVFP4) behind quant/quantize_cuda.h,
// launched by quant/cuda/quantize_dispatch.cuh. x is
// seen as [outer, len, inner] with blocks of `block` indices along len (the last block of a
// line may be shorter), one scale per (block, inner index). A block's largest magnitude is
// an integer max over the float32 bits (which also catches NaN and inf), the same in any
// order of reduction, and every element is rounded by the shared rules of
// quant/microscaling_core.h, so the bits equal the CPU's. Element i's random word is
// philox_bits(seed, offset, i): word i % 4 of Philox block offset + i / 4, as on the CPU.
//
// Three kernels by layout, each one pass over memory (NVFP4 first reads the tensor once
// more for its largest finite magnitude):
// - aligned_blocks_kernel: inner == 1 and blocks of 4, 8, ..., 128 elements that tile every
//   line exactly. A lane takes 4 consecutive elements (one 16-byte access, one Philox
//   block); a block is block/4 adjacent lanes, its maximum a butterfly of warp shuffles.
// - short_blocks_kernel: inner == 1 and blocks of at most 32 elements, any line length. A
//   block is a segment of the warp (the block size rounded up to a power of two lanes), one
//   element per lane; lanes past a short block's end add 0 to the maximum and write nothing.
// - column_blocks_kernel: any layout (blocks across an inner axis, long blocks): one thread
//   per (block, inner index) reads its column once for the maximum and once to quantize.
//
// Plain C++ apart from the CUDA keywords and intrinsics that tests/support/cuda_emulation.h
// provides, so that tests/quant/quantize_kernels_emulated_test.cpp runs them on the CPU.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "qtorch/core/error.h"
#include "qtorch/core/philox.h"
#include "qtorch/quant/cuda/block_maxima.cuh"
#include "qtorch/quant/cuda/counts.cuh"
#include "qtorch/quant/microscaling_core.h"
#include "qtorch/quant/round_kind_dispatch.h"

namespace qtorch::quant::microscaling_kernels {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int64_t kMaxGrid = int64_t{1} << 20;  // CUDA blocks; grid-stride loops do the rest

/// CUDA blocks of kThreads for `threads` threads, at most `cap`.
inline unsigned grid_for(int64_t threads, int64_t cap = kMaxGrid) {
  return static_cast<unsigned>(std::clamp<int64_t>((threads + kThreads - 1) / kThreads, 1, cap));
}

/// The most CUDA blocks of a launch: kMaxGrid, or with counters 16 per multiprocessor (two
/// rounds of the 8 that fit), so that each block's two atomics stay few.
inline int64_t grid_cap(const unsigned long long* counters, int multiprocessors) {
  return counters != nullptr ? 16 * std::max<int64_t>(multiprocessors, 1) : kMaxGrid;
}

// ---- the two formats over the shared element rules ----

template <RoundKind K>
struct MXRule {
  static constexpr RoundKind kKind = K;
  using Scale = MXScale;
  ElementFormat element;
  __device__ Scale scale(uint32_t max_abs_bits) const { return mx_scale(max_abs_bits, element); }
  __device__ float operator()(float x, const Scale& s, uint32_t rnd, uint32_t& clamped) const {
    return quantize_mx<K, true>(x, s, rnd, clamped);
  }
};

/// A block's NVFP4 scale with its float32 thresholds (an element costs 8 float compares
/// instead of 8 double ones).
struct NVFP4BlockScale {
  NVFP4Scale s;
  NVFP4Thresholds t;
};

template <RoundKind K>
struct NVFP4Rule {
  static constexpr RoundKind kKind = K;
  using Scale = NVFP4BlockScale;
  /// Device memory holding the tensor's largest finite magnitude bits (max_finite_abs_kernel).
  const uint32_t* max_finite_abs_bits;
  __device__ Scale scale(uint32_t max_abs_bits) const {
    const NVFP4Scale s = nvfp4_block_scale(max_abs_bits, nvfp4_tensor_scale(*max_finite_abs_bits));
    return Scale{s, nvfp4_thresholds<K>(s)};
  }
  __device__ float operator()(float x, const Scale& s, uint32_t rnd, uint32_t& clamped) const {
    return quantize_nvfp4_thresholds<K>(x, s.s, s.t, rnd, clamped);
  }
};

// ---- per-element helpers ----

template <RoundKind K>
__device__ __forceinline__ uint32_t random_word(uint64_t seed, uint64_t offset, int64_t i) {
  if constexpr (K == RoundKind::Stochastic)
    return philox_bits(seed, offset, static_cast<uint64_t>(i));
  else
    return 0u;
}

/// Quantizes element i (value v) with its block's scale: out[i], mask[i] and the counts.
template <class Rule>
__device__ __forceinline__ void quantize_element(const Rule& rule, const typename Rule::Scale& s,
                                                 float v, int64_t i, uint32_t rnd, float* out,
                                                 float* mask, Counts& counts) {
  uint32_t c = 0;
  const float y = rule(v, s, rnd, c);
  out[i] = y;
  if (mask != nullptr) mask[i] = c != 0 ? 1.0f : 0.0f;
  counts.count(c, v, y);
}

/// The block layout: lines of len elements (inner apart) cut into blocks of `block`.
struct Layout {
  int64_t len = 1, inner = 1, block = 1;
  int64_t per_line = 1;  // blocks along one line: ceil(len / block)
  int64_t blocks = 1;    // outer * per_line
};

__device__ __forceinline__ int64_t first_warp() {
  return (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
}
__device__ __forceinline__ int64_t warp_count() {
  return static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
}

// ---- kernels ----

/// Warp tiles (32 lanes of 4 elements) that aligned_blocks_kernel loads before it quantizes
/// any: two 16-byte loads in flight per lane instead of one.
constexpr int kTilesPerStep = 2;

/// inner == 1, every line a whole number of blocks of 4 * lanes_per_block elements
/// (lanes_per_block a power of two up to 32): blocks tile the flat index, n is a multiple
/// of 4, and lane g of the grid owns elements 4g..4g+3 (Philox block offset + g). A warp
/// takes kTilesPerStep tiles of 32 groups at a time.
template <class Rule>
__global__ void __launch_bounds__(kThreads)
    aligned_blocks_kernel(const float* x, float* out, float* mask, int64_t n, int lanes_per_block,
                          Rule rule, uint64_t seed, uint64_t offset, unsigned long long* counters) {
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  const int64_t groups = n / 4;
  const int64_t tiles = (groups + kWarp - 1) / kWarp;
  const bool vec = (reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(out) |
                    reinterpret_cast<uintptr_t>(mask)) % 16 == 0;
  Counts counts;
  // The loop bounds are the same for the whole warp: every lane reaches the shuffles.
  for (int64_t first = first_warp() * kTilesPerStep; first < tiles; first += warp_count() * kTilesPerStep) {
    float v[kTilesPerStep][4];
#pragma unroll
    for (int t = 0; t < kTilesPerStep; ++t) {
      const int64_t g = (first + t) * kWarp + lane;
      const bool live = g < groups;  // blocks are whole groups of lanes: all live or none
      v[t][0] = v[t][1] = v[t][2] = v[t][3] = 0.0f;
      if (live && vec) {
        const float4 f = reinterpret_cast<const float4*>(x)[g];
        v[t][0] = f.x, v[t][1] = f.y, v[t][2] = f.z, v[t][3] = f.w;
      } else if (live) {
#pragma unroll
        for (int k = 0; k < 4; ++k) v[t][k] = x[g * 4 + k];
      }
    }
#pragma unroll
    for (int t = 0; t < kTilesPerStep; ++t) {
      const int64_t g = (first + t) * kWarp + lane;
      uint32_t m = max_bits(max_bits(abs_bits(v[t][0]), abs_bits(v[t][1])), max_bits(abs_bits(v[t][2]), abs_bits(v[t][3])));
      for (int s = lanes_per_block / 2; s >= 1; s /= 2) m = max_bits(m, __shfl_xor_sync(kFullMask, m, s));
      if (g >= groups) continue;
      const typename Rule::Scale scale = rule.scale(m);
      PhiloxBlock r{{0u, 0u, 0u, 0u}};
      if constexpr (Rule::kKind == RoundKind::Stochastic)
        r = philox_block(seed, offset + static_cast<uint64_t>(g));
      float y[4], c[4];
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        uint32_t clamped = 0;
        y[k] = rule(v[t][k], scale, r.w[k], clamped);
        c[k] = clamped != 0 ? 1.0f : 0.0f;
        counts.count(clamped, v[t][k], y[k]);
      }
      if (vec) {
        reinterpret_cast<float4*>(out)[g] = make_float4(y[0], y[1], y[2], y[3]);
        if (mask != nullptr) reinterpret_cast<float4*>(mask)[g] = make_float4(c[0], c[1], c[2], c[3]);
      } else {
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          out[g * 4 + k] = y[k];
          if (mask != nullptr) mask[g * 4 + k] = c[k];
        }
      }
    }
  }
  counts.add_to(counters);
}

/// inner == 1, blocks of at most 32 elements, any line length: a warp holds 32 >> log2_lanes
/// blocks, each on 1 << log2_lanes adjacent lanes, one element per lane.
template <class Rule>
__global__ void __launch_bounds__(kThreads)
    short_blocks_kernel(const float* x, float* out, float* mask, Layout l, int log2_lanes,
                        Rule rule, uint64_t seed, uint64_t offset, unsigned long long* counters) {
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  const int lanes_per_block = 1 << log2_lanes;
  const int64_t blocks_per_tile = kWarp >> log2_lanes;
  const int64_t tiles = (l.blocks + blocks_per_tile - 1) / blocks_per_tile;
  const int64_t pos = lane & (lanes_per_block - 1);  // the element's place in its block
  Counts counts;
  for (int64_t tile = first_warp(); tile < tiles; tile += warp_count()) {
    const int64_t u = tile * blocks_per_tile + (lane >> log2_lanes);  // the block
    bool live = false;
    int64_t i = 0;
    float v = 0.0f;
    if (u < l.blocks) {
      const int64_t line = u / l.per_line;
      const int64_t start = (u - line * l.per_line) * l.block;  // along the line
      live = pos < l.block && start + pos < l.len;
      i = line * l.len + start + pos;
      if (live) v = x[i];
    }
    uint32_t m = abs_bits(v);
    for (int s = lanes_per_block / 2; s >= 1; s /= 2) m = max_bits(m, __shfl_xor_sync(kFullMask, m, s));
    if (live)
      quantize_element(rule, rule.scale(m), v, i, random_word<Rule::kKind>(seed, offset, i), out,
                       mask, counts);
  }
  counts.add_to(counters);
}

/// Any layout: thread c takes inner index c % inner of block c / inner.
template <class Rule>
__global__ void __launch_bounds__(kThreads)
    column_blocks_kernel(const float* x, float* out, float* mask, Layout l, Rule rule,
                         uint64_t seed, uint64_t offset, unsigned long long* counters) {
  const int64_t columns = l.blocks * l.inner;
  Counts counts;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < columns;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t u = c / l.inner, k = c - u * l.inner;
    const int64_t line = u / l.per_line;
    const int64_t start = (u - line * l.per_line) * l.block;
    const int64_t rows = l.len - start < l.block ? l.len - start : l.block;
    const int64_t first = (line * l.len + start) * l.inner + k;
    uint32_t m = 0;
    for (int64_t r = 0; r < rows; ++r) m = max_bits(m, abs_bits(x[first + r * l.inner]));
    const typename Rule::Scale scale = rule.scale(m);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = first + r * l.inner;
      quantize_element(rule, scale, x[i], i, random_word<Rule::kKind>(seed, offset, i), out, mask,
                       counts);
    }
  }
  counts.add_to(counters);
}

/// NVFP4's tensor-wide pass: *result = max(*result, largest finite magnitude bits of x).
/// An integer atomicMax, so the result does not depend on the order.
__device__ __forceinline__ uint32_t finite_abs_bits(float v) {
  const uint32_t a = abs_bits(v);
  return a < kInfBits ? a : 0u;
}

__global__ void __launch_bounds__(kThreads)
    max_finite_abs_kernel(const float* x, int64_t n, uint32_t* result) {
  __shared__ uint32_t warp_max[kThreads / kWarp];
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  uint32_t m = 0;
  int64_t tail = 0;  // elements before `tail` were read as float4
  if (reinterpret_cast<uintptr_t>(x) % 16 == 0) {
    const int64_t groups = n / 4;
    const float4* x4 = reinterpret_cast<const float4*>(x);
    const auto fold = [&](const float4& f) {
      m = max_bits(m, max_bits(max_bits(finite_abs_bits(f.x), finite_abs_bits(f.y)),
                               max_bits(finite_abs_bits(f.z), finite_abs_bits(f.w))));
    };
    int64_t g = first;
    // Four 16-byte loads in flight per thread, then one at a time for the rest.
    for (; g + 3 * stride < groups; g += 4 * stride) {
      const float4 f0 = x4[g], f1 = x4[g + stride], f2 = x4[g + 2 * stride], f3 = x4[g + 3 * stride];
      fold(f0), fold(f1), fold(f2), fold(f3);
    }
    for (; g < groups; g += stride) fold(x4[g]);
    tail = groups * 4;
  }
  for (int64_t e = tail + first; e < n; e += stride) m = max_bits(m, finite_abs_bits(x[e]));
  m = __reduce_max_sync(kFullMask, m);
  if (threadIdx.x % kWarp == 0) warp_max[threadIdx.x / kWarp] = m;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kThreads / kWarp; ++w) m = max_bits(m, warp_max[w]);
    if (m != 0) atomicMax(result, m);
  }
}

// ---- host side ----

inline Layout layout_of(const QuantParams& p, int64_t n) {
  QTORCH_CHECK(p.block >= 1 && p.len >= 1 && p.outer * p.len * p.inner == n,
               "quantize (cuda): block-scaled layout [{}, {}, {}] with blocks of {} does not "
               "cover {} elements",
               p.outer, p.len, p.inner, p.block, n);
  Layout l;
  l.len = p.len;
  l.inner = p.inner;
  l.block = p.block;
  l.per_line = (p.len + p.block - 1) / p.block;
  l.blocks = p.outer * l.per_line;
  return l;
}

/// Chooses the kernel for the layout (see the top of this file) and runs it with
/// launch(kernel, grid, threads, args...), on at most grid_cap(counters, multiprocessors) blocks.
template <class Rule, class Launch>
void launch_blocks(const Rule& rule, const float* x, float* out, float* mask, int64_t n,
                   const Layout& l, uint64_t seed, uint64_t offset, unsigned long long* counters,
                   int multiprocessors, Launch launch) {
  const int64_t cap = grid_cap(counters, multiprocessors);
  const int64_t b = l.block;
  const bool power_of_two = (b & (b - 1)) == 0;
  if (l.inner == 1 && l.len % b == 0 && power_of_two && b >= 4 && b <= 4 * kWarp) {
    const int64_t tiles = (n / 4 + kWarp - 1) / kWarp;
    const int64_t warps = (tiles + kTilesPerStep - 1) / kTilesPerStep;
    launch(aligned_blocks_kernel<Rule>, grid_for(warps * kWarp, cap), kThreads, x, out, mask, n, static_cast<int>(b / 4),
           rule, seed, offset, counters);
  } else if (l.inner == 1 && b <= kWarp) {
    int log2_lanes = 0;
    while ((int64_t{1} << log2_lanes) < b) ++log2_lanes;
    const int64_t blocks_per_tile = kWarp >> log2_lanes;
    const int64_t tiles = (l.blocks + blocks_per_tile - 1) / blocks_per_tile;
    launch(short_blocks_kernel<Rule>, grid_for(tiles * kWarp, cap), kThreads, x, out, mask, l, log2_lanes, rule, seed,
           offset, counters);
  } else {
    launch(column_blocks_kernel<Rule>, grid_for(l.blocks * l.inner, cap), kThreads, x, out, mask, l, rule, seed, offset,
           counters);
  }
}

/// The kernel for p's format and rounding over layout l; max_finite (NVFP4 only) holds the
/// tensor's largest finite magnitude bits (max_finite_abs_kernel).
template <class Launch>
void launch_microscaling(const float* x, float* out, float* mask, int64_t n, const QuantParams& p, const Layout& l,
                         uint64_t seed, uint64_t offset, const uint32_t* max_finite, unsigned long long* counters,
                         int multiprocessors, Launch launch) {
  with_round_kind(p.kind, [&](auto kind) {
    constexpr RoundKind K = decltype(kind)::value;
    if (p.family == QuantFamily::MX)
      launch_blocks(MXRule<K>{p.element}, x, out, mask, n, l, seed, offset, counters, multiprocessors, launch);
    else
      launch_blocks(NVFP4Rule<K>{max_finite}, x, out, mask, n, l, seed, offset, counters, multiprocessors,
                      launch);
  });
}

/// The grid of max_finite_abs_kernel: eight CUDA blocks per multiprocessor at most (all
/// that fit), and at most one thread per 4 elements.
inline unsigned max_finite_grid(int64_t n, int multiprocessors) {
  return static_cast<unsigned>(std::min<int64_t>(grid_for((n + 3) / 4), 8LL * multiprocessors));
}
}  // namespace qtorch::quant::microscaling_kernels
