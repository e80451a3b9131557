// Softmax / log-softmax over the last axis of [rows, cols], and the row gather/scatter
// that cross-entropy uses (out[r] = x[r, index[r]] and its adjoint; a bad index is
// reported asynchronously, see index_check.h). One warp per row for
// rows of up to 1024 columns, one block per row beyond.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"
#include "qtorch/core/cuda/index_check.h"

namespace qtorch::cuda {
namespace {

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
    float lse = m + logf(s);
    for (int64_t c = lane; c < cols; c += width) yr[c] = xr[c] - lse;
  } else {
    float inv = 1.0f / s;
    for (int64_t c = lane; c < cols; c += width) yr[c] = expf(xr[c] - m) * inv;
  }
}

// The first row with a bad index is recorded with atomicMin in *bad (initialised to all
// ones); such rows write NaN.
__global__ void gather_rows_kernel(const float* x, const float* index, float* out, int64_t rows,
                                   int64_t cols, unsigned long long* bad) {
  int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  float v = index[r];
  if (!(v >= 0.0f && v < static_cast<float>(cols) && v == floorf(v))) {
    atomicMin(bad, static_cast<unsigned long long>(r));
    out[r] = NAN;
    return;
  }
  out[r] = x[r * cols + static_cast<int64_t>(v)];
}

__global__ void scatter_add_rows_kernel(const float* values, const float* index, float* out,
                                        int64_t rows, int64_t cols) {
  int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  float v = index[r];
  // A bad index is skipped: reporting it would need a wait for the GPU, and the forward
  // gather_rows of the same index has already thrown.
  if (!(v >= 0.0f && v < static_cast<float>(cols) && v == floorf(v))) return;
  out[r * cols + static_cast<int64_t>(v)] += values[r];
}

}  // namespace

void CudaBackend::softmax(const Tensor& x, const Tensor& out, int64_t rows, int64_t cols, bool log) {
  QTORCH_CHECK(x.is_contiguous() && out.is_contiguous() && x.numel() == rows * cols &&
                   out.numel() == rows * cols,
               "softmax: expected contiguous x and out of {} x {} elements", rows, cols);
  if (rows == 0 || cols == 0) return;
  DeviceGuard guard(x);
  if (cols <= 1024) {
    constexpr int kThreads = 256;
    softmax_kernel<false><<<blocks_for(rows, kThreads / 32, 1LL << 31), kThreads, 0,
                            guard.stream()>>>(x.data_ptr(), out.data_ptr(), rows, cols, log);
  } else {
    QTORCH_CHECK(rows < (int64_t{1} << 31), "softmax: too many rows ({})", rows);
    softmax_kernel<true><<<static_cast<unsigned>(rows), 512, 0, guard.stream()>>>(
        x.data_ptr(), out.data_ptr(), rows, cols, log);
  }
  QTORCH_CUDA_CHECK_LAUNCH();
}

void CudaBackend::gather_rows(const Tensor& x, const Tensor& index, const Tensor& out) {
  QTORCH_CHECK(x.is_contiguous() && index.is_contiguous() && out.is_contiguous() && x.dim() == 2,
               "gather_rows: expected contiguous x [rows, cols], index and out");
  int64_t rows = x.size(0), cols = x.size(1);
  QTORCH_CHECK(index.numel() == rows && out.numel() == rows,
               "gather_rows: expected index and out of {} elements, got {} and {}", rows,
               index.numel(), out.numel());
  if (rows == 0) return;
  DeviceGuard guard(x);
  raise_pending_index_error(guard.device());
  // A bad index is reported asynchronously (index_check.h): waiting for the GPU here
  // would put a host synchronisation into every training step.
  IndexErrorSlot& slot = index_error_slot(guard.device());
  gather_rows_kernel<<<blocks_for(rows, 256, 1LL << 31), 256, 0, guard.stream()>>>(
      x.data_ptr(), index.data_ptr(), out.data_ptr(), rows, cols, slot.device_row);
  QTORCH_CUDA_CHECK_LAUNCH();
  record_index_error(guard.device(), guard.stream(), index.data_ptr(), cols);
}

void CudaBackend::scatter_add_rows(const Tensor& values, const Tensor& index, const Tensor& out) {
  QTORCH_CHECK(values.is_contiguous() && index.is_contiguous() && out.is_contiguous() &&
                   out.dim() == 2,
               "scatter_add_rows: expected contiguous values, index and out [rows, cols]");
  int64_t rows = out.size(0), cols = out.size(1);
  QTORCH_CHECK(index.numel() == rows && values.numel() == rows,
               "scatter_add_rows: expected index and values of {} elements, got {} and {}", rows,
               index.numel(), values.numel());
  if (rows == 0) return;
  DeviceGuard guard(out);
  scatter_add_rows_kernel<<<blocks_for(rows, 256, 1LL << 31), 256, 0, guard.stream()>>>(
      values.data_ptr(), index.data_ptr(), out.data_ptr(), rows, cols);
  QTORCH_CUDA_CHECK_LAUNCH();
}

}  // namespace qtorch::cuda
