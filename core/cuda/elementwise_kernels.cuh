// The CUDA backend's elementwise kernels (copy, fill, unary, binary, where over a StridedPlan:
// out's shape, inputs broadcast through stride-0 axes) with the host code that picks and
// launches one (run_elementwise, taking launch(kernel, grid, threads, args...):
// cuda::QueuedLaunch in the library). Dense tensors take a float4 path; the rest map each
// linear index to per-tensor offsets (32-bit index math when it fits). The per-element math is
// core/scalar_ops.h, the CPU backend's too. Plain C++ apart from the CUDA keywords that
// tests/support/cuda_emulation.h provides, so tests/core/elementwise_kernels_emulated_test.cpp
// runs them on the CPU against the CPU backend.
#pragma once

#include <cstdint>

#include "qtorch/core/cuda/grid.h"
#include "qtorch/core/cuda/strided_plan.h"
#include "qtorch/core/scalar_ops.h"

namespace qtorch::cuda::elementwise_kernels {

constexpr int kThreads = 256;

// Each functor maps the N-1 input values of one element to the output value.
struct FillFn {
  float value;
  __device__ float operator()(const float*) const { return value; }
};
struct UnaryFn {
  UnaryOp op;
  float a, b;
  __device__ float operator()(const float* in) const { return unary_value(op, in[0], a, b); }
};
struct BinaryFn {
  BinaryOp op;
  __device__ float operator()(const float* in) const { return binary_value(op, in[0], in[1]); }
};
struct WhereFn {
  __device__ float operator()(const float* in) const { return where_value(in[0], in[1], in[2]); }
};

template <int N, class F>
__global__ void contiguous_kernel(StridedPlan<N> p, F f) {
  constexpr int kIn = N > 1 ? N - 1 : 1;
  int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel;
       i += stride) {
    float in[kIn];
#pragma unroll
    for (int t = 1; t < N; ++t) in[t - 1] = p.ptr[t][i];
    p.ptr[0][i] = f(in);
  }
}

// Four elements per thread with 16-byte loads and stores; the tail (numel % 4) is done
// by the first threads one element at a time.
template <int N, class F>
__global__ void contiguous_vec4_kernel(StridedPlan<N> p, F f) {
  constexpr int kIn = N > 1 ? N - 1 : 1;
  int64_t n4 = p.numel / 4;
  int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t i = first; i < n4; i += stride) {
    float4 v[kIn];
#pragma unroll
    for (int t = 1; t < N; ++t) v[t - 1] = reinterpret_cast<const float4*>(p.ptr[t])[i];
    float4 r;
    float in[kIn];
#pragma unroll
    for (int t = 0; t < N - 1; ++t) in[t] = v[t].x;
    r.x = f(in);
#pragma unroll
    for (int t = 0; t < N - 1; ++t) in[t] = v[t].y;
    r.y = f(in);
#pragma unroll
    for (int t = 0; t < N - 1; ++t) in[t] = v[t].z;
    r.z = f(in);
#pragma unroll
    for (int t = 0; t < N - 1; ++t) in[t] = v[t].w;
    r.w = f(in);
    reinterpret_cast<float4*>(p.ptr[0])[i] = r;
  }
  int64_t tail = n4 * 4 + first;
  if (tail < p.numel) {
    float in[kIn];
#pragma unroll
    for (int t = 1; t < N; ++t) in[t - 1] = p.ptr[t][tail];
    p.ptr[0][tail] = f(in);
  }
}

template <int N, class Index, class F>
__global__ void strided_kernel(StridedPlan<N> p, F f) {
  constexpr int kIn = N > 1 ? N - 1 : 1;
  Index n = static_cast<Index>(p.numel);
  Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t off[N];
    plan_offsets(p, i, off);
    float in[kIn];
#pragma unroll
    for (int t = 1; t < N; ++t) in[t - 1] = p.ptr[t][off[t]];
    p.ptr[0][off[0]] = f(in);
  }
}

/// Runs f over the plan's elements with the kernel its layout allows.
template <int N, class F, class Launch>
void run_elementwise(const StridedPlan<N>& p, F f, const Launch& launch) {
  if (p.numel == 0) return;
  const int64_t cap = 1 << 20;
  if (p.contiguous && p.aligned16 && p.numel >= 4) {
    launch(contiguous_vec4_kernel<N, F>, blocks_for(p.numel / 4, kThreads, cap), kThreads, p, f);
  } else if (p.contiguous) {
    launch(contiguous_kernel<N, F>, blocks_for(p.numel, kThreads, cap), kThreads, p, f);
  } else if (p.numel < (int64_t{1} << 31)) {
    launch(strided_kernel<N, uint32_t, F>, blocks_for(p.numel, kThreads, cap), kThreads, p, f);
  } else {
    launch(strided_kernel<N, int64_t, F>, blocks_for(p.numel, kThreads, cap), kThreads, p, f);
  }
}

}  // namespace qtorch::cuda::elementwise_kernels
