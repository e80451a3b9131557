// The CUDA backend's reductions of a contiguous x seen as [outer, n, inner] into out
// [outer, inner] (Sum, Max, Min, ArgMax), with the host code that splits the work and
// launches the kernels (run_reduce, taking launch(kernel, grid, threads, args...):
// cuda::QueuedLaunch in the library). Deterministic: the split depends only on the shape (never
// on the GPU or on timing), partial results are combined in a fixed tree order, and no
// atomics are used. Plain C++ apart from the CUDA keywords and intrinsics that
// tests/support/cuda_emulation.h provides, so tests/core/reduce_kernels_emulated_test.cpp runs
// them on the CPU.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "qtorch/core/backend.h"
#include "qtorch/core/cuda/grid.h"
#include "qtorch/core/error.h"

namespace qtorch::cuda::reduce_kernels {

/// A running value and, for ArgMax, the index of the element it came from.
struct Acc {
  float v;
  int64_t i;
};

constexpr int64_t kNoIndex = std::numeric_limits<int64_t>::max();

__device__ __forceinline__ Acc identity(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return {0.0f, kNoIndex};
    case ReduceOp::Min: return {INFINITY, kNoIndex};
    default: return {-INFINITY, kNoIndex};
  }
}

// Max and Min propagate NaN, as on the CPU. ArgMax is order-independent: a NaN beats any
// number, and among equals (or NaNs) the smaller index wins, so the CPU's "first maximum,
// or first NaN" is found however the elements were split among threads.
__device__ __forceinline__ Acc combine(ReduceOp op, Acc a, Acc b) {
  switch (op) {
    case ReduceOp::Sum: return {a.v + b.v, kNoIndex};
    case ReduceOp::Max: return isnan(a.v) ? a : (isnan(b.v) || b.v > a.v ? b : a);
    case ReduceOp::Min: return isnan(a.v) ? a : (isnan(b.v) || b.v < a.v ? b : a);
    case ReduceOp::ArgMax: {
      bool an = isnan(a.v), bn = isnan(b.v);
      if (an != bn) return an ? a : b;
      return (b.v > a.v || ((b.v == a.v || an) && b.i < a.i)) ? b : a;
    }
  }
  return a;
}

__device__ __forceinline__ Acc shfl_down(Acc a, int delta) {
  return {__shfl_down_sync(0xffffffffu, a.v, delta), __shfl_down_sync(0xffffffffu, a.i, delta)};
}

__device__ __forceinline__ Acc warp_reduce(ReduceOp op, Acc a) {
#pragma unroll
  for (int d = 16; d > 0; d /= 2) a = combine(op, a, shfl_down(a, d));
  return a;
}

/// Reduces one Acc per thread of a 1-D block (blockDim.x a multiple of 32, <= 1024);
/// the result is valid in thread 0.
__device__ inline Acc block_reduce(ReduceOp op, Acc a) {
  __shared__ Acc warp_results[32];
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  a = warp_reduce(op, a);
  if (lane == 0) warp_results[warp] = a;
  __syncthreads();
  const unsigned warps = blockDim.x / 32;
  a = threadIdx.x < warps ? warp_results[lane] : identity(op);
  if (warp == 0) a = warp_reduce(op, a);
  __syncthreads();  // warp_results may be reused by a following call
  return a;
}

// Sources: element k of a reduced run at flat position `pos`.
struct FloatSrc {
  const float* p;
  __device__ Acc load(int64_t pos, int64_t k) const { return {p[pos], k}; }
};
struct AccSrc {
  const Acc* p;
  __device__ Acc load(int64_t pos, int64_t) const { return p[pos]; }
};

__device__ __forceinline__ float final_value(ReduceOp op, Acc a) {
  return op == ReduceOp::ArgMax ? static_cast<float>(a.i) : a.v;
}

constexpr int kThreads = 256;

// ---- inner == 1: rows of length n ----

/// One warp per row, for short rows.
template <class Src>
__global__ void rows_warp_kernel(ReduceOp op, Src src, float* out, int64_t outer, int64_t n) {
  int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= outer) return;
  int lane = threadIdx.x % 32;
  Acc a = identity(op);
  for (int64_t k = lane; k < n; k += 32) a = combine(op, a, src.load(row * n + k, k));
  a = warp_reduce(op, a);
  if (lane == 0) out[row] = final_value(op, a);
}

/// One block per (row, chunk of `chunk` elements); writes out[row] when there is one
/// chunk per row, else partial[row * parts + part].
template <class Src>
__global__ void rows_block_kernel(ReduceOp op, Src src, float* out, Acc* partial, int64_t n,
                                  int64_t chunk, int64_t parts) {
  int64_t row = blockIdx.x / parts, part = blockIdx.x % parts;
  int64_t begin = part * chunk, end = n < begin + chunk ? n : begin + chunk;
  Acc a = identity(op);
  for (int64_t k = begin + threadIdx.x; k < end; k += blockDim.x)
    a = combine(op, a, src.load(row * n + k, k));
  a = block_reduce(op, a);
  if (threadIdx.x != 0) return;
  if (partial != nullptr)
    partial[row * parts + part] = a;
  else
    out[row] = final_value(op, a);
}

// ---- inner > 1: columns; tiles of 32 columns x 8 row groups, coalesced along inner ----

/// Block (tile of 32 columns and outer index o, both in blockIdx.x; segment s of the n axis). Thread (x, y)
/// combines rows y, y+8, ... of the segment for column x; the 8 partials are combined in
/// shared memory in a fixed order. Writes out[o, j] with one segment, else partial[o, s, j].
template <class Src>
__global__ void cols_tile_kernel(ReduceOp op, Src src, float* out, Acc* partial, int64_t n,
                                 int64_t inner, int64_t seg_len, int64_t segs, int64_t col_tiles) {
  __shared__ Acc tile[8][33];
  int64_t o = blockIdx.x / col_tiles;
  int64_t j = (blockIdx.x % col_tiles) * 32 + threadIdx.x;
  int64_t s = blockIdx.y;
  int64_t begin = s * seg_len, end = n < begin + seg_len ? n : begin + seg_len;
  Acc a = identity(op);
  if (j < inner)
    for (int64_t k = begin + threadIdx.y; k < end; k += 8)
      a = combine(op, a, src.load((o * n + k) * inner + j, k));
  tile[threadIdx.y][threadIdx.x] = a;
  __syncthreads();
  for (unsigned h = 4; h > 0; h /= 2) {
    if (threadIdx.y < h)
      tile[threadIdx.y][threadIdx.x] =
          combine(op, tile[threadIdx.y][threadIdx.x], tile[threadIdx.y + h][threadIdx.x]);
    __syncthreads();
  }
  if (threadIdx.y != 0 || j >= inner) return;
  a = tile[0][threadIdx.x];
  if (partial != nullptr)
    partial[(o * segs + s) * inner + j] = a;
  else
    out[o * inner + j] = final_value(op, a);
}

/// Final pass over segment partials [outer, segs, inner]: one thread per output.
__global__ void cols_finish_kernel(ReduceOp op, const Acc* partial, float* out, int64_t outer,
                                   int64_t segs, int64_t inner) {
  int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= outer * inner) return;
  int64_t o = idx / inner, j = idx % inner;
  Acc a = identity(op);
  for (int64_t s = 0; s < segs; ++s) a = combine(op, a, partial[(o * segs + s) * inner + j]);
  out[idx] = final_value(op, a);
}

/// Reduces x [outer, n >= 1, inner] into y [outer, inner]. scratch(count) gives memory for
/// `count` partial results that stays valid until the launches are queued (or run).
template <class Scratch, class Launch>
void run_reduce(ReduceOp op, const float* x, int64_t outer, int64_t n, int64_t inner, float* y, Scratch scratch,
                const Launch& launch) {
  const FloatSrc src{x};
  if (inner == 1) {
    if (n <= 1024) {
      const int rows_per_block = kThreads / 32;
      QTORCH_CHECK(outer <= kMaxGridX * rows_per_block, "reduce: too many rows ({})", outer);
      launch(rows_warp_kernel<FloatSrc>, dim3(blocks_for(outer, rows_per_block, kMaxGridX)), dim3(kThreads), op, src,
             y, outer, n);
      return;
    }
    constexpr int64_t kChunk = 16384;
    const int64_t parts = outer >= 256 ? 1 : (n + kChunk - 1) / kChunk;
    if (parts == 1) {
      QTORCH_CHECK(outer < (int64_t{1} << 31), "reduce: too many rows ({})", outer);
      launch(rows_block_kernel<FloatSrc>, dim3(static_cast<unsigned>(outer)), dim3(kThreads), op, src, y,
             static_cast<Acc*>(nullptr), n, n, int64_t{1});
      return;
    }
    Acc* partial = scratch(outer * parts);  // outer < 256 here
    launch(rows_block_kernel<FloatSrc>, dim3(static_cast<unsigned>(outer * parts)), dim3(kThreads), op, src, y,
           partial, n, kChunk, parts);
    launch(rows_block_kernel<AccSrc>, dim3(static_cast<unsigned>(outer)), dim3(kThreads), op, AccSrc{partial}, y,
           static_cast<Acc*>(nullptr), parts, parts, int64_t{1});
    return;
  }

  const int64_t col_tiles = (inner + 31) / 32;
  QTORCH_CHECK(outer * col_tiles < (int64_t{1} << 31), "reduce: [{}, {}, {}] is too large", outer, n, inner);
  // Split the n axis into segments only when the tiles alone would leave the GPU idle.
  int64_t segs = 1;
  if (outer * col_tiles < 256 && n > 256) segs = std::min<int64_t>((n + 255) / 256, 64);
  const int64_t seg_len = (n + segs - 1) / segs;
  segs = (n + seg_len - 1) / seg_len;
  const dim3 block(32, 8);
  const dim3 grid(static_cast<unsigned>(outer * col_tiles), static_cast<unsigned>(segs));
  if (segs == 1) {
    launch(cols_tile_kernel<FloatSrc>, grid, block, op, src, y, static_cast<Acc*>(nullptr), n, inner, seg_len,
           int64_t{1}, col_tiles);
    return;
  }
  Acc* partial = scratch(outer * segs * inner);
  launch(cols_tile_kernel<FloatSrc>, grid, block, op, src, y, partial, n, inner, seg_len, segs, col_tiles);
  launch(cols_finish_kernel, dim3(blocks_for(outer * inner, kThreads, kMaxGridX)), dim3(kThreads), op,
         static_cast<const Acc*>(partial), y, outer, segs, inner);
}

}  // namespace qtorch::cuda::reduce_kernels
