// Elementwise kernels: copy, fill, unary, binary and where over tensors of out's shape
// (inputs may broadcast through stride-0 axes). Dense tensors take a float4 path; the
// rest map each linear index to per-tensor offsets (32-bit index math when it fits).
#include <cstring>

#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"
#include "qtorch/core/cuda/scalar_ops.cuh"
#include "qtorch/core/cuda/strided.cuh"

namespace qtorch::cuda {
namespace {

constexpr int kThreads = 256;

// Each functor maps the N-1 input values of one element to the output value.
struct FillFn {
  float value;
  __device__ float operator()(const float*) const { return value; }
};
struct UnaryFn {
  UnaryOp op;
  float a, b;
  __device__ float operator()(const float* in) const { return apply_unary(op, in[0], a, b); }
};
struct BinaryFn {
  BinaryOp op;
  __device__ float operator()(const float* in) const { return apply_binary(op, in[0], in[1]); }
};
struct WhereFn {
  __device__ float operator()(const float* in) const { return in[0] != 0.0f ? in[1] : in[2]; }
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

template <int N, class F>
void launch(const Tensor* const (&tensors)[N], F f, const char* op) {
  StridedPlan<N> p = make_plan<N>(tensors, op);
  if (p.numel == 0) return;
  DeviceGuard guard(*tensors[0]);
  const int64_t cap = 1 << 20;
  if (p.contiguous && p.aligned16 && p.numel >= 4) {
    contiguous_vec4_kernel<N, F>
        <<<blocks_for(p.numel / 4, kThreads, cap), kThreads, 0, guard.stream()>>>(p, f);
  } else if (p.contiguous) {
    contiguous_kernel<N, F><<<blocks_for(p.numel, kThreads, cap), kThreads, 0, guard.stream()>>>(p, f);
  } else if (p.numel < (int64_t{1} << 31)) {
    strided_kernel<N, uint32_t, F>
        <<<blocks_for(p.numel, kThreads, cap), kThreads, 0, guard.stream()>>>(p, f);
  } else {
    strided_kernel<N, int64_t, F>
        <<<blocks_for(p.numel, kThreads, cap), kThreads, 0, guard.stream()>>>(p, f);
  }
  QTORCH_CUDA_CHECK_LAUNCH();
}

}  // namespace

void CudaBackend::copy(const Tensor& src, const Tensor& out) {
  QTORCH_CHECK(src.device().is_cuda() && out.device().is_cuda(),
               "copy: expected CUDA tensors, got {} and {}", src.device().str(), out.device().str());
  if (src.shape() == out.shape() && src.is_contiguous() && out.is_contiguous()) {
    if (out.numel() == 0 || src.data_ptr() == out.data_ptr()) return;
    DeviceGuard guard(out);
    QTORCH_CUDA_CHECK(cudaMemcpyAsync(out.data_ptr(), src.data_ptr(),
                                      static_cast<size_t>(out.numel()) * sizeof(float),
                                      cudaMemcpyDeviceToDevice, guard.stream()));
    return;
  }
  const Tensor* t[2] = {&out, &src};
  launch<2>(t, UnaryFn{UnaryOp::Copy, 0.0f, 0.0f}, "copy");
}

void CudaBackend::fill(const Tensor& out, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if (bits == 0 && out.is_contiguous()) {
    if (out.numel() == 0) return;
    DeviceGuard guard(out);
    QTORCH_CUDA_CHECK(cudaMemsetAsync(out.data_ptr(), 0,
                                      static_cast<size_t>(out.numel()) * sizeof(float),
                                      guard.stream()));
    return;
  }
  const Tensor* t[1] = {&out};
  launch<1>(t, FillFn{value}, "fill");
}

void CudaBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out, float a, float b) {
  const Tensor* t[2] = {&out, &x};
  launch<2>(t, UnaryFn{op, a, b}, "unary");
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const Tensor* t[3] = {&out, &a, &b};
  launch<3>(t, BinaryFn{op}, "binary");
}

void CudaBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  const Tensor* t[4] = {&out, &cond, &a, &b};
  launch<4>(t, WhereFn{}, "where");
}

}  // namespace qtorch::cuda
