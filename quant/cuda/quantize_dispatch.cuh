// Which kernels take one quantize call on the GPU (quant/quantize_cuda.h), and their
// launches: the host side of quantize_cuda, over a launch policy (cuda::QueuedLaunch in the
// library), so that tests/quant/quantize_kernels_emulated_test.cpp runs it on the CPU.
// - With element ops (a bias, a ReLU, ReLU's backward): one segments_kernel launch.
// - Fixed and float point: one elementwise quantize_kernel launch.
// - Block floating point: one elementwise pass when every element is its own block (a bias
//   with dim 0); one launch with a CUDA block per row when the blocks are contiguous rows of
//   at most 8192 elements; otherwise a pass for the block maxima (an integer max, so the
//   atomics keep it deterministic, quant/cuda/block_maxima_kernels.cuh) and the quantize pass.
// - MX and NVFP4: quant/cuda/microscaling_kernels.cuh, NVFP4 after a pass for the tensor's
//   largest finite magnitude.
#pragma once

#include <algorithm>
#include <cstdint>

#include "qtorch/core/cuda/grid.h"
#include "qtorch/core/error.h"
#include "qtorch/quant/cuda/block_maxima_kernels.cuh"
#include "qtorch/quant/cuda/microscaling_kernels.cuh"
#include "qtorch/quant/cuda/quantize_kernels.cuh"

namespace qtorch::quant::kernels {

/// CUDA blocks per multiprocessor of a counted elementwise launch: 16 (two rounds of the
/// 8 that fit) keep the memory busy, and each block adds its counts with at most two atomics.
inline constexpr int64_t kCountedBlocksPerMultiprocessor = 16;

/// quantize_kernel over n elements, with the rounding kind of p as a template argument;
/// the counting variant only when a mask or counters are asked for. A thread per group of 4
/// elements, except with counters: then a grid of kCountedBlocksPerMultiprocessor blocks per
/// multiprocessor strides over the groups, so that the atomics are few.
template <QuantFamily F, class Launch>
void launch_elementwise(const float* x, float* out, float* mask, int64_t n, const QuantParams& p, uint64_t seed,
                        uint64_t offset, const BlockLookup& blocks, unsigned long long* counters,
                        int multiprocessors, const Launch& launch) {
  const int64_t cap =
      counters != nullptr ? kCountedBlocksPerMultiprocessor * std::max(multiprocessors, 1) : int64_t{1} << 30;
  const dim3 grid(cuda::blocks_for((n + 3) / 4, kThreads, cap));
  with_round_kind(p.kind, [&](auto kind) {
    constexpr RoundKind K = decltype(kind)::value;
    if (mask != nullptr || counters != nullptr)
      launch(quantize_kernel<F, K, true>, grid, dim3(kThreads), x, out, mask, n, p, seed, offset, blocks, counters);
    else
      launch(quantize_kernel<F, K, false>, grid, dim3(kThreads), x, out, mask, n, p, seed, offset, blocks, counters);
  });
}

/// Quantizes x[0, n) into out as quantize_cuda does. zeroed(count) gives `count` zeroed
/// uint32_t of device memory that stay valid until the launches are queued (the block maxima,
/// NVFP4's tensor maximum); multiprocessors bounds the grids of the passes over a whole tensor.
template <class Zeroed, class Launch>
void run_quantize(const float* x, float* out, float* mask, int64_t n, const QuantParams& p, uint64_t seed,
                  uint64_t offset, unsigned long long* counts, const ElementOps& ops, int multiprocessors,
                  Zeroed zeroed, const Launch& launch) {
  if (n <= 0) return;
  if (ops.any()) {  // one segments_kernel launch: a row per CUDA block, or chunks
    quantize_in_segments(x, out, mask, n, p, seed, offset, counts, ops, launch);
    return;
  }
  switch (p.family) {
    case QuantFamily::Fixed:
      launch_elementwise<QuantFamily::Fixed>(x, out, mask, n, p, seed, offset, {}, counts, multiprocessors, launch);
      return;
    case QuantFamily::Float:
      launch_elementwise<QuantFamily::Float>(x, out, mask, n, p, seed, offset, {}, counts, multiprocessors, launch);
      return;
    case QuantFamily::Block: {
      QTORCH_CHECK(p.outer * p.blocks * p.inner == n && p.blocks >= 1,
                   "quantize (cuda): block layout [{}, {}, {}] does not cover {} elements", p.outer, p.blocks,
                   p.inner, n);
      if (block_self_scaled(p)) {  // e.g. a bias with dim 0: one launch, one pass
        const BlockLookup self{.maxima = nullptr, .group_in_one_block = false, .index32 = false, .self_scaled = true};
        launch_elementwise<QuantFamily::Block>(x, out, mask, n, p, seed, offset, self, counts, multiprocessors, launch);
        return;
      }
      if (block_rows_in_one_launch(p)) {  // one launch, one CUDA block per row
        quantize_in_segments(x, out, mask, n, p, seed, offset, counts, {}, launch);
        return;
      }
      uint32_t* const maxima = zeroed(p.blocks);
      block_maxima_kernels::run_block_maxima(x, n, p, maxima, multiprocessors, launch);
      const BlockLookup blocks{.maxima = maxima,
                               .group_in_one_block = p.blocks == 1 || p.inner % 4 == 0,
                               .index32 = n <= int64_t{UINT32_MAX},
                               .self_scaled = false};
      launch_elementwise<QuantFamily::Block>(x, out, mask, n, p, seed, offset, blocks, counts, multiprocessors,
                                               launch);
      return;
    }
    case QuantFamily::MX:
    case QuantFamily::NVFP4: {
      namespace mk = microscaling_kernels;
      uint32_t* max_finite = nullptr;
      if (p.family == QuantFamily::NVFP4) {
        max_finite = zeroed(1);
        launch(mk::max_finite_abs_kernel, dim3(mk::max_finite_grid(n, multiprocessors)), dim3(mk::kThreads), x, n,
               max_finite);
      }
      mk::launch_microscaling(x, out, mask, n, p, mk::layout_of(p, n), seed, offset, max_finite, counts,
                              multiprocessors, launch);
      return;
    }
  }
}

}  // namespace qtorch::quant::kernels
