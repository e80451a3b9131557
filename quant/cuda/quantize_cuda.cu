// CUDA quantize kernels behind quant/quantize_cuda.h: one pass over memory for the
// elementwise families (Philox bits made in the kernel, 4 elements per Philox block and per
// 16-byte access, mask and counts in the same pass); block floating point adds one read
// pass for the block maxima (an integer max, so atomics keep it deterministic). Each
// element's rule is the shared rounding core, so the bits equal the CPU's. The block-scaled
// families (MX, NVFP4) go to quant/cuda/quantize_microscaling_cuda.cu.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/allocator.h"
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/philox.h"
#include "qtorch/quant/cuda/counts.cuh"
#include "qtorch/quant/cuda/quantize_microscaling_cuda.h"
#include "qtorch/quant/cuda/scratch.h"
#include "qtorch/quant/quantize_cuda.h"
#include "qtorch/quant/round_kind_dispatch.h"
#include "qtorch/quant/rounding_core.h"

namespace qtorch::quant {
namespace {

using cuda::blocks_for;

constexpr int kThreads = 256;

/// Block index of flat element e for block floating point; 32-bit division when every
/// index fits (a 64-bit division costs several times as many instructions).
__device__ __forceinline__ int64_t block_of(int64_t e, const QuantParams& p, bool index32) {
  if (p.blocks == 1) return 0;
  if (index32) return static_cast<uint32_t>(e) / static_cast<uint32_t>(p.inner) % static_cast<uint32_t>(p.blocks);
  return (e / p.inner) % p.blocks;
}

template <QuantFamily F, RoundKind K>
__device__ __forceinline__ float quantize_elementwise(float x, const QuantParams& p, uint32_t rnd,
                                                      uint32_t& clamped) {
  if constexpr (F == QuantFamily::Fixed) {
    // The floating-point path (same bits, about a third of the instructions) where it applies;
    // the test is uniform over the launch.
    if constexpr (kHasFixedFpPath<K>)
      if (fixed_fp_applies(p)) return quantize_fixed_fp<K>(x, p, clamped);
    return quantize_fixed<K, true>(x, p, rnd, clamped);
  } else {
    return quantize_float_split<K>(x, p, rnd, clamped);
  }
}

/// How a launch finds the block scale of an element group (block floating point only).
struct BlockLookup {
  const uint32_t* maxima;
  bool group_in_one_block;  // p.blocks == 1 or p.inner % 4 == 0: a group never straddles blocks
  bool index32;             // every flat index fits 32 bits
  bool row_kernel;          // row_block_kernel applies (row_kernel_fits)
  bool self_scaled;         // p.outer == 1 and p.inner == 1: every element is a block of its own
};

/// Thread t quantizes the group of elements 4t..4t+3 with the words of Philox block
/// offset + t (element i uses word i % 4 of block offset + i / 4, as on the CPU).
/// Counting (compile time): the clamp mask (when not null) and the clamped and flushed
/// counts (when counters is not null); without it the kernel does neither.
template <QuantFamily F, RoundKind K, bool Counting>
__global__ void __launch_bounds__(kThreads)
    quantize_kernel(const float* x, float* out, float* mask, int64_t n, QuantParams p,
                    uint64_t seed, uint64_t offset, BlockLookup blocks,
                    unsigned long long* counters) {
  const int64_t groups = (n + 3) / 4;
  const bool vec = (reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(out) |
                    reinterpret_cast<uintptr_t>(mask)) % 16 == 0;
  Counts counts;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
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
    PhiloxBlock r{{0u, 0u, 0u, 0u}};
    if constexpr (K == RoundKind::Stochastic) r = philox_block(seed, offset + static_cast<uint64_t>(g));
    float y[4];
    uint32_t c[4];  // the rounding core's clamp flags (0 or 1)
    if constexpr (F == QuantFamily::Block) {
      if (blocks.self_scaled) {  // no maxima pass: each element's scale is its own magnitude
#pragma unroll
        for (int k = 0; k < 4; ++k)
          y[k] = quantize_block<K, true>(v[k], block_scale(float_bits(v[k]) & kAbsMask, p.wl), r.w[k], c[k]);
      } else if (blocks.group_in_one_block) {
        const BlockScale s = block_scale(blocks.maxima[block_of(e0, p, blocks.index32)], p.wl);
#pragma unroll
        for (int k = 0; k < 4; ++k) y[k] = quantize_block<K, true>(v[k], s, r.w[k], c[k]);
      } else {
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          const int64_t e = e0 + k < n ? e0 + k : e0;  // past the end: any valid block
          const BlockScale s = block_scale(blocks.maxima[block_of(e, p, blocks.index32)], p.wl);
          y[k] = quantize_block<K, true>(v[k], s, r.w[k], c[k]);
        }
      }
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
  if constexpr (Counting) counts.add_to(counters);
}

// ---- block maxima: maxima[j] = max over block j of float_bits(x) & 0x7fffffff ----
// An integer max is order-independent, so atomicMax gives the same result every run.

__device__ __forceinline__ uint32_t abs_bits(float v) { return float_bits(v) & kAbsMask; }

/// For rows of inner >= kLongRow elements: block b takes chunk b % chunks of row b / chunks.
constexpr int64_t kLongRow = 256;
constexpr int64_t kRowChunk = kThreads * 16;

__global__ void __launch_bounds__(kThreads)
    long_rows_max_kernel(const float* x, QuantParams p, int64_t chunks, uint32_t* maxima) {
  __shared__ uint32_t warp_max[kThreads / 32];
  const int64_t row = blockIdx.x / chunks, chunk = blockIdx.x % chunks;
  const float* base = x + row * p.inner;
  const int64_t begin = chunk * kRowChunk, end = min(p.inner, begin + kRowChunk);
  uint32_t m = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) m = max(m, abs_bits(base[i]));
  m = __reduce_max_sync(0xffffffffu, m);
  if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = m;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kThreads / 32; ++w) m = max(m, warp_max[w]);
    atomicMax(&maxima[row % p.blocks], m);
  }
}

/// Short rows, up to kSharedBlocks blocks: per-CUDA-block maxima in shared memory, merged
/// into the global ones at the end.
constexpr int64_t kSharedBlocks = 8192;

__global__ void __launch_bounds__(kThreads)
    short_rows_max_kernel(const float* x, int64_t n, QuantParams p, bool index32, uint32_t* maxima) {
  extern __shared__ uint32_t local[];
  for (int64_t j = threadIdx.x; j < p.blocks; j += blockDim.x) local[j] = 0;
  __syncthreads();
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    atomicMax(&local[block_of(e, p, index32)], abs_bits(x[e]));
  __syncthreads();
  for (int64_t j = threadIdx.x; j < p.blocks; j += blockDim.x)
    if (local[j] != 0) atomicMax(&maxima[j], local[j]);
}

/// Anything else: one global atomic per element.
__global__ void elementwise_max_kernel(const float* x, int64_t n, QuantParams p, bool index32, uint32_t* maxima) {
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    atomicMax(&maxima[block_of(e, p, index32)], abs_bits(x[e]));
}

void block_maxima(const float* x, int64_t n, const QuantParams& p, uint32_t* maxima, int device,
                  cudaStream_t st) {
  QTORCH_CHECK(p.outer * p.blocks * p.inner == n && p.blocks >= 1,
               "quantize (cuda): block layout [{}, {}, {}] does not cover {} elements", p.outer,
               p.blocks, p.inner, n);
  QTORCH_CUDA_CHECK(cudaMemsetAsync(maxima, 0, static_cast<size_t>(p.blocks) * sizeof(uint32_t), st));
  const int64_t rows = p.outer * p.blocks;
  const bool index32 = n <= int64_t{UINT32_MAX};
  if (p.inner >= kLongRow) {
    const int64_t chunks = (p.inner + kRowChunk - 1) / kRowChunk;
    QTORCH_CHECK(rows * chunks < (int64_t{1} << 31), "quantize (cuda): tensor too large");
    long_rows_max_kernel<<<static_cast<unsigned>(rows * chunks), kThreads, 0, st>>>(x, p, chunks,
                                                                                  maxima);
  } else if (p.blocks <= kSharedBlocks) {
    const int64_t grid = std::min<int64_t>((n + kThreads - 1) / kThreads, 4LL * cuda::sm_count(device));
    short_rows_max_kernel<<<static_cast<unsigned>(grid), kThreads,
                            static_cast<size_t>(p.blocks) * sizeof(uint32_t), st>>>(x, n, p, index32, maxima);
  } else {
    elementwise_max_kernel<<<blocks_for(n, kThreads, 1 << 20), kThreads, 0, st>>>(x, n, p, index32, maxima);
  }
  QTORCH_CUDA_CHECK_LAUNCH();
}

// ---- block floating point, one block per short contiguous row, in one pass ----

/// Groups of 4 elements each thread holds in registers: rows of up to 4 * kRowGroups *
/// kThreads = 8192 elements.
constexpr int kRowGroups = 8;

/// Whether row_block_kernel can quantize the tensor: every block is one contiguous row
/// (p.outer == 1) of a multiple of 4 elements, at most 8192, and the pointers allow float4.
bool row_kernel_fits(const float* x, const float* out, const float* mask, const QuantParams& p) {
  const bool aligned = (reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(out) |
                        reinterpret_cast<uintptr_t>(mask)) % 16 == 0;
  return aligned && p.outer == 1 && p.inner % 4 == 0 && p.inner <= 4 * kRowGroups * kThreads &&
         p.blocks < (int64_t{1} << 31);
}

/// CUDA block b quantizes row b: its threads load the row into registers (group g of the row
/// by thread g % kThreads), reduce the largest magnitude bits (an integer max, as the
/// two-pass path's atomics), and quantize from the registers with the row's scale. One
/// launch and one read of x, instead of a memset, a maxima pass and a quantize pass.
/// Random words and counts as in quantize_kernel.
template <RoundKind K, bool Counting>
__global__ void __launch_bounds__(kThreads)
    row_block_kernel(const float* x, float* out, float* mask, QuantParams p, uint64_t seed, uint64_t offset,
                     unsigned long long* counters) {
  __shared__ uint32_t warp_max[kThreads / 32];
  const int64_t row_groups = p.inner / 4;
  const int64_t first_group = static_cast<int64_t>(blockIdx.x) * row_groups;
  const float4* xr = reinterpret_cast<const float4*>(x) + first_group;
  float4 v[kRowGroups];
  uint32_t m = 0;
#pragma unroll
  for (int k = 0; k < kRowGroups; ++k) {
    const int64_t g = threadIdx.x + static_cast<int64_t>(k) * kThreads;
    v[k] = g < row_groups ? xr[g] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    m = max(m, max(max(abs_bits(v[k].x), abs_bits(v[k].y)), max(abs_bits(v[k].z), abs_bits(v[k].w))));
  }
  m = __reduce_max_sync(0xffffffffu, m);
  if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = m;
  __syncthreads();
  m = warp_max[0];
#pragma unroll
  for (int w = 1; w < kThreads / 32; ++w) m = max(m, warp_max[w]);
  const BlockScale s = block_scale(m, p.wl);

  Counts counts;
#pragma unroll
  for (int k = 0; k < kRowGroups; ++k) {
    const int64_t g = threadIdx.x + static_cast<int64_t>(k) * kThreads;
    if (g < row_groups) {
      const int64_t group = first_group + g;
      PhiloxBlock r{{0u, 0u, 0u, 0u}};
      if constexpr (K == RoundKind::Stochastic) r = philox_block(seed, offset + static_cast<uint64_t>(group));
      const float in[4] = {v[k].x, v[k].y, v[k].z, v[k].w};
      float y[4];
      uint32_t c[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) y[j] = quantize_block<K, true>(in[j], s, r.w[j], c[j]);
      reinterpret_cast<float4*>(out)[group] = make_float4(y[0], y[1], y[2], y[3]);
      if constexpr (Counting) {
        if (mask != nullptr)
          reinterpret_cast<float4*>(mask)[group] =
              make_float4(c[0] ? 1.0f : 0.0f, c[1] ? 1.0f : 0.0f, c[2] ? 1.0f : 0.0f, c[3] ? 1.0f : 0.0f);
#pragma unroll
        for (int j = 0; j < 4; ++j) counts.count(c[j], in[j], y[j]);
      }
    }
  }
  if constexpr (Counting) counts.add_to(counters);
}

template <QuantFamily F, RoundKind K>
void launch(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
            uint64_t seed, uint64_t offset, const BlockLookup& blocks, unsigned long long* counters,
            cudaStream_t st) {
  const bool counting = mask != nullptr || counters != nullptr;
  if constexpr (F == QuantFamily::Block) {
    if (blocks.row_kernel) {
      const unsigned rows = static_cast<unsigned>(p.blocks);
      if (counting)
        row_block_kernel<K, true><<<rows, kThreads, 0, st>>>(x, out, mask, p, seed, offset, counters);
      else
        row_block_kernel<K, false><<<rows, kThreads, 0, st>>>(x, out, mask, p, seed, offset, counters);
      QTORCH_CUDA_CHECK_LAUNCH();
      return;
    }
  }
  const int64_t groups = (n + 3) / 4;
  const unsigned grid = blocks_for(groups, kThreads, 1LL << 30);
  if (counting)
    quantize_kernel<F, K, true><<<grid, kThreads, 0, st>>>(x, out, mask, n, p, seed, offset, blocks, counters);
  else
    quantize_kernel<F, K, false><<<grid, kThreads, 0, st>>>(x, out, mask, n, p, seed, offset, blocks, counters);
  QTORCH_CUDA_CHECK_LAUNCH();
}

template <QuantFamily F>
void launch_family(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
                   uint64_t seed, uint64_t offset, const BlockLookup& blocks,
                   unsigned long long* counters, cudaStream_t st) {
  with_round_kind(p.kind, [&](auto kind) {
    launch<F, decltype(kind)::value>(x, out, mask, n, p, seed, offset, blocks, counters, st);
  });
}

}  // namespace

void quantize_cuda(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
                   uint64_t seed, uint64_t offset, unsigned long long* counts, int device) {
  if (n <= 0) return;
  cuda::DeviceGuard guard(device);
  cudaStream_t st = guard.stream();
  switch (p.family) {
    case QuantFamily::Fixed:
      launch_family<QuantFamily::Fixed>(x, out, mask, n, p, seed, offset, {}, counts, st);
      break;
    case QuantFamily::Float:
      launch_family<QuantFamily::Float>(x, out, mask, n, p, seed, offset, {}, counts, st);
      break;
    case QuantFamily::Block: {
      QTORCH_CHECK(p.outer * p.blocks * p.inner == n && p.blocks >= 1,
                   "quantize (cuda): block layout [{}, {}, {}] does not cover {} elements", p.outer, p.blocks,
                   p.inner, n);
      if (p.outer == 1 && p.inner == 1) {  // e.g. a bias with dim 0: one launch, one pass
        launch_family<QuantFamily::Block>(x, out, mask, n, p, seed, offset, {.self_scaled = true}, counts, st);
        break;
      }
      if (row_kernel_fits(x, out, mask, p)) {
        launch_family<QuantFamily::Block>(x, out, mask, n, p, seed, offset, {.row_kernel = true}, counts, st);
        break;
      }
      Scratch<uint32_t> maxima(p.blocks, guard.device());
      block_maxima(x, n, p, maxima.p, guard.device(), st);
      const BlockLookup blocks{.maxima = maxima.p,
                               .group_in_one_block = p.blocks == 1 || p.inner % 4 == 0,
                               .index32 = n <= int64_t{UINT32_MAX},
                               .row_kernel = false,
                               .self_scaled = false};
      launch_family<QuantFamily::Block>(x, out, mask, n, p, seed, offset, blocks, counts, st);
      break;
    }
    case QuantFamily::MX:
    case QuantFamily::NVFP4:
      quantize_microscaling_cuda(x, out, mask, n, p, seed, offset, counts, guard.device(), st);
      break;
  }
}

unsigned long long* alloc_device_counts(int device) {
  cuda::DeviceGuard guard(device);
  auto* counts = static_cast<unsigned long long*>(cuda::device_alloc(2 * sizeof(unsigned long long), device));
  QTORCH_CUDA_CHECK(cudaMemsetAsync(counts, 0, 2 * sizeof(unsigned long long), guard.stream()));
  return counts;
}

void read_device_counts(const unsigned long long* counts, int device, unsigned long long host[2]) {
  cuda::DeviceGuard guard(device);
  QTORCH_CUDA_CHECK(cudaMemcpyAsync(host, counts, 2 * sizeof(unsigned long long), cudaMemcpyDeviceToHost,
                                    guard.stream()));
  cuda::wait_for_stream(guard.stream());
}

void free_device_counts(unsigned long long* counts) { cuda::device_free(counts); }

}  // namespace qtorch::quant
