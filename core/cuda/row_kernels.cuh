// The CUDA backend's kernels that index rows by a float tensor, with the host code that
// launches them (run_*, taking launch(kernel, grid, threads, args...): cuda::QueuedLaunch in
// the library):
// - take_rows: out[i, :] = x[index[i], :], the gather of a shuffled batch from a data set on
//   the device (the index is checked on the host by ops::take_rows);
// - gather_rows and scatter_add_rows: out[r] = x[r, index[r]] and its adjoint, for
//   cross-entropy (a bad index is reported asynchronously, see index_check.h).
// Plain C++ apart from the CUDA keywords and intrinsics that tests/support/cuda_emulation.h
// provides, so tests/core/row_kernels_emulated_test.cpp runs them on the CPU.
#pragma once

#include <cmath>
#include <cstdint>

#include "qtorch/core/float_index.h"
#include "qtorch/core/cuda/grid.h"

namespace qtorch::cuda::row_kernels {

// One thread per output element, consecutive threads along a row (coalesced reads of each
// source row and writes of each output row).
__global__ void take_rows_kernel(const float* x, const float* index, float* out, int64_t m, int64_t row) {
  const int64_t total = m * row;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / row, c = e - i * row;
    out[e] = x[static_cast<int64_t>(index[i]) * row + c];
  }
}

// The first row with a bad index is recorded with atomicMin in *bad (initialised to all
// ones); such rows write NaN.
__global__ void gather_rows_kernel(const float* x, const float* index, float* out, int64_t rows,
                                   int64_t cols, unsigned long long* bad) {
  int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  float v = index[r];
  if (!is_class_index(v, cols)) {
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
  if (!is_class_index(v, cols)) return;
  out[r * cols + static_cast<int64_t>(v)] += values[r];
}

template <class Launch>
void run_take_rows(const float* x, const float* index, float* out, int64_t m, int64_t row, const Launch& launch) {
  if (m == 0 || row == 0) return;
  launch(take_rows_kernel, dim3(blocks_for(m * row, 256)), dim3(256), x, index, out, m, row);
}

/// bad: the device's first-bad-row slot (all ones while none is bad).
template <class Launch>
void run_gather_rows(const float* x, const float* index, float* out, int64_t rows, int64_t cols,
                     unsigned long long* bad, const Launch& launch) {
  if (rows == 0) return;
  launch(gather_rows_kernel, dim3(blocks_for(rows, 256, kMaxGridX)), dim3(256), x, index, out, rows, cols, bad);
}

template <class Launch>
void run_scatter_add_rows(const float* values, const float* index, float* out, int64_t rows, int64_t cols,
                          const Launch& launch) {
  if (rows == 0) return;
  launch(scatter_add_rows_kernel, dim3(blocks_for(rows, 256, kMaxGridX)), dim3(256), values, index, out, rows, cols);
}

}  // namespace qtorch::cuda::row_kernels
