// Strided iteration plans for elementwise kernels: tensors of one shape (inputs may
// broadcast through stride-0 axes) are reduced to the fewest axes by merging axes that are
// contiguous in every tensor; each kernel thread then maps a linear index to offsets.
// Plain C++ (no CUDA types), so host tests can check the plans; strided.cuh uses them.
#pragma once

#include <cstdint>

#include "qtorch/core/error.h"
#include "qtorch/core/hostdevice.h"
#include "qtorch/core/tensor.h"

// Loops over the fixed axis count unroll on the device.
#if defined(__CUDA_ARCH__)
#define QTORCH_UNROLL _Pragma("unroll")
#else
#define QTORCH_UNROLL
#endif

namespace qtorch::cuda {

/// Most axes a plan may keep after merging (kernel parameters hold them by value).
constexpr int kMaxDims = 10;

/// Shape and per-tensor strides after merging; tensor 0 is the output.
template <int N>
struct StridedPlan {
  int ndim = 0;
  int64_t numel = 0;
  int64_t size[kMaxDims] = {};
  int64_t stride[N][kMaxDims] = {};
  float* ptr[N] = {};
  /// Every tensor is dense and in row-major order (ndim <= 1 with unit strides).
  bool contiguous = false;
  /// Every pointer is 16-byte aligned (float4 access possible on the contiguous path).
  bool aligned16 = false;
};

/// Builds the plan for tensors that all have the shape of tensors[0].
template <int N>
StridedPlan<N> make_plan(const Tensor* const (&tensors)[N], const char* op) {
  StridedPlan<N> p;
  const Shape& shape = tensors[0]->shape();
  p.numel = numel_of(shape);
  for (int t = 0; t < N; ++t) {
    QTORCH_CHECK(tensors[t]->shape() == shape, "{}: expected every tensor of shape {}, got {}", op,
                 shape_str(shape), shape_str(tensors[t]->shape()));
    p.ptr[t] = tensors[t]->data_ptr();
  }
  // Drop size-1 axes, then merge axis i into i+1 (walking outward from the last axis)
  // whenever every tensor steps over axis i exactly by the extent of axis i+1.
  int64_t size[64];
  int64_t stride[N][64];
  int nd = 0;
  QTORCH_CHECK(shape.size() <= 64, "{}: at most 64 axes, got {}", op, shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    size[nd] = shape[d];
    for (int t = 0; t < N; ++t) stride[t][nd] = tensors[t]->strides()[d];
    ++nd;
  }
  int64_t msize[64];
  int64_t mstride[N][64];
  int m = 0;
  for (int d = nd - 1; d >= 0; --d) {
    bool merge = m > 0;
    for (int t = 0; t < N && merge; ++t)
      merge = stride[t][d] == mstride[t][m - 1] * msize[m - 1];
    if (merge) {
      msize[m - 1] *= size[d];
    } else {
      msize[m] = size[d];
      for (int t = 0; t < N; ++t) mstride[t][m] = stride[t][d];
      ++m;
    }
  }
  QTORCH_CHECK(m <= kMaxDims, "{}: at most {} non-mergeable axes on CUDA, got {} (shape {})", op,
               kMaxDims, m, shape_str(shape));
  p.ndim = m;
  // Store outermost first.
  for (int i = 0; i < m; ++i) {
    p.size[i] = msize[m - 1 - i];
    for (int t = 0; t < N; ++t) p.stride[t][i] = mstride[t][m - 1 - i];
  }
  p.contiguous = m <= 1;
  for (int t = 0; t < N; ++t)
    if (m == 1 && p.stride[t][0] != 1) p.contiguous = false;
  p.aligned16 = true;
  for (int t = 0; t < N; ++t)
    if (reinterpret_cast<uintptr_t>(p.ptr[t]) % 16 != 0) p.aligned16 = false;
  return p;
}

/// Offsets of linear (row-major) index i in every tensor of the plan.
template <int N, class Index>
QTORCH_HD void plan_offsets(const StridedPlan<N>& p, Index i, int64_t (&off)[N]) {
  QTORCH_UNROLL
  for (int t = 0; t < N; ++t) off[t] = 0;
  QTORCH_UNROLL
  for (int d = kMaxDims - 1; d >= 0; --d) {
    if (d >= p.ndim) continue;
    Index s = static_cast<Index>(p.size[d]);
    Index q = i / s;
    int64_t r = static_cast<int64_t>(i - q * s);
    QTORCH_UNROLL
    for (int t = 0; t < N; ++t) off[t] += r * p.stride[t][d];
    i = q;
  }
}

}  // namespace qtorch::cuda
