// The CUDA backend's softmax and log-softmax over the last axis of [rows, cols] (one warp per
// row for rows of up to 1024 columns, one block of 512 threads per row beyond), with the host
// code that launches them (run_softmax, taking launch(kernel, grid, threads, args...):
// cuda::QueuedLaunch in the library). Plain C++ apart from the CUDA keywords and intrinsics
// that tests/support/cuda_emulation.h provides, so tests/core/softmax_kernels_emulated_test.cpp
// runs them on the CPU.
#pragma once

#include <cmath>
#include <cstdint>

#include "qtorch/core/cuda/grid.h"
#include "qtorch/core/error.h"

namespace qtorch::cuda::softmax_kernels {

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int d = 16; d > 0; d /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, d));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int d = 16; d > 0; d /= 2) v += __shfl_xor_sync(0xffffffffu, v, d);
  return v;
}

/// Every thread of the block gets the block's max (op 0) or sum (op 1).
template <int kOp>
__device__ float block_all(float v) {
  __shared__ float partial[32];
  v = kOp == 0 ? warp_max(v) : warp_sum(v);
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : (kOp == 0 ? -INFINITY : 0.0f);
  v = kOp == 0 ? warp_max(v) : warp_sum(v);
  __syncthreads();
  return v;
}

// Rows of one warp (kBlock == false) or one block (kBlock == true).
template <bool kBlock>
__global__ void softmax_kernel(const float* x, float* out, int64_t rows, int64_t cols, bool log) {
  int64_t row;
  int lane, width;
  if (kBlock) {
    row = blockIdx.x;
    lane = threadIdx.x;
    width = blockDim.x;
  } else {
    row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
    lane = threadIdx.x % 32;
    width = 32;
    if (row >= rows) return;
  }
  const float* xr = x + row * cols;
  float* yr = out + row * cols;
  float m = -INFINITY;
  for (int64_t c = lane; c < cols; c += width) m = fmaxf(m, xr[c]);
  m = kBlock ? block_all<0>(m) : warp_max(m);
  float s = 0.0f;
  for (int64_t c = lane; c < cols; c += width) s += expf(xr[c] - m);
  s = kBlock ? block_all<1>(s) : warp_sum(s);
  if (log) {
    // (x - max) - log(sum), as the CPU: exact for large x, where x - (max + log(sum)) rounds.
    const float log_s = logf(s);
    for (int64_t c = lane; c < cols; c += width) yr[c] = (xr[c] - m) - log_s;
  } else {
    float inv = 1.0f / s;
    for (int64_t c = lane; c < cols; c += width) yr[c] = expf(xr[c] - m) * inv;
  }
}

template <class Launch>
void run_softmax(const float* x, float* out, int64_t rows, int64_t cols, bool log, const Launch& launch) {
  if (rows == 0 || cols == 0) return;
  if (cols <= 1024) {
    constexpr int kThreads = 256;
    QTORCH_CHECK(rows <= kMaxGridX * (kThreads / 32), "softmax: too many rows ({})", rows);
    launch(softmax_kernel<false>, dim3(blocks_for(rows, kThreads / 32, kMaxGridX)), dim3(kThreads), x, out, rows,
           cols, log);
  } else {
    QTORCH_CHECK(rows < (int64_t{1} << 31), "softmax: too many rows ({})", rows);
    launch(softmax_kernel<true>, dim3(static_cast<unsigned>(rows)), dim3(512), x, out, rows, cols, log);
  }
}

}  // namespace qtorch::cuda::softmax_kernels
