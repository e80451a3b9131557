// quantize_cuda and quantize_list_cuda (quant/quantize_cuda.h): which kernel of
// quant/cuda/quantize_kernels.cuh takes a call, and its launch. Block floating point whose
// blocks are contiguous rows of at most 8192 elements takes one launch (segments_kernel: a
// CUDA block per row reduces the row's maximum and quantizes); other layouts add one read
// pass for the block maxima (an integer max, so atomics keep it deterministic).
// segments_kernel also takes lists of tensors in one launch, and element ops. The
// block-scaled families (MX, NVFP4) go to quant/cuda/quantize_microscaling_cuda.cu; the
// counters to device_counts.cu.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/allocator.h"
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/queued_launch.cuh"
#include "qtorch/quant/cuda/quantize_kernels.cuh"
#include "qtorch/quant/cuda/quantize_microscaling_cuda.h"
#include "qtorch/core/cuda/scratch.h"

namespace qtorch::quant {
using namespace kernels;

namespace {

using cuda::blocks_for;

template <QuantFamily F, RoundKind K>
void launch(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
            uint64_t seed, uint64_t offset, const BlockLookup& blocks, unsigned long long* counters,
            cudaStream_t st) {
  const bool counting = mask != nullptr || counters != nullptr;
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
                   uint64_t seed, uint64_t offset, unsigned long long* counts, int device, const ElementOps& ops) {
  if (n <= 0) return;
  cuda::DeviceGuard guard(device);
  cudaStream_t st = guard.stream();
  if (ops.any()) {  // one segments_kernel launch: a row per CUDA block, or chunks
    quantize_in_segments(x, out, mask, n, p, seed, offset, counts, ops, cuda::QueuedLaunch{st});
    return;
  }
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
      if (block_self_scaled(p)) {  // e.g. a bias with dim 0: one launch, one pass
        launch_family<QuantFamily::Block>(x, out, mask, n, p, seed, offset, {.self_scaled = true}, counts, st);
        break;
      }
      if (block_rows_in_one_launch(p)) {  // one launch, one CUDA block per row
        quantize_in_segments(x, out, mask, n, p, seed, offset, counts, {}, cuda::QueuedLaunch{st});
        break;
      }
      cuda::Scratch<uint32_t> maxima(p.blocks, guard.device());
      block_maxima(x, n, p, maxima.p, guard.device(), st);
      const BlockLookup blocks{.maxima = maxima.p,
                               .group_in_one_block = p.blocks == 1 || p.inner % 4 == 0,
                               .index32 = n <= int64_t{UINT32_MAX},
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

void quantize_list_cuda(const std::vector<QuantizeListItem>& items, uint64_t seed, unsigned long long* counts,
                        int device) {
  if (items.empty()) return;
  cuda::DeviceGuard guard(device);
  quantize_list_in_segments(items, seed, counts, cuda::QueuedLaunch{guard.stream()}, [&](const QuantizeListItem& item) {
    quantize_cuda(item.x, item.x, nullptr, item.n, item.p, seed, item.offset, counts, device);
  });
}

}  // namespace qtorch::quant
