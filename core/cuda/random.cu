// Uniform and normal random tensors from the Philox generator shared with the CPU
// (core/philox.h): element i (row-major) is philox_uniform/philox_normal(seed, offset, i),
// whatever the launch shape. A dense uniform tensor takes one Philox block per 4 elements.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"
#include "qtorch/core/cuda/strided.cuh"
#include "qtorch/core/philox.h"

namespace qtorch::cuda {
namespace {

__global__ void uniform_dense_kernel(float* out, int64_t numel, uint64_t seed, uint64_t offset) {
  int64_t blocks = (numel + 3) / 4;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks;
       b += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    PhiloxBlock r = philox_block(seed, offset + static_cast<uint64_t>(b));
    int64_t i = b * 4;
    if (i + 4 <= numel && reinterpret_cast<uintptr_t>(out) % 16 == 0) {
      reinterpret_cast<float4*>(out)[b] = make_float4(bits_to_uniform(r.w[0]), bits_to_uniform(r.w[1]),
                                                      bits_to_uniform(r.w[2]), bits_to_uniform(r.w[3]));
    } else {
#pragma unroll
      for (int k = 0; k < 4; ++k)
        if (i + k < numel) out[i + k] = bits_to_uniform(r.w[k]);
    }
  }
}

template <bool kNormal>
__global__ void random_strided_kernel(StridedPlan<1> p, uint64_t seed, uint64_t offset) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[1];
    plan_offsets(p, i, off);
    uint64_t u = static_cast<uint64_t>(i);
    p.ptr[0][off[0]] = kNormal ? philox_normal(seed, offset, u) : philox_uniform(seed, offset, u);
  }
}

template <bool kNormal>
void launch_strided(const Tensor& out, uint64_t seed, uint64_t offset, const char* op) {
  const Tensor* t[1] = {&out};
  StridedPlan<1> p = make_plan<1>(t, op);
  if (p.numel == 0) return;
  DeviceGuard guard(out);
  random_strided_kernel<kNormal><<<blocks_for(p.numel, 256, 1 << 20), 256, 0, guard.stream()>>>(
      p, seed, offset);
  QTORCH_CUDA_CHECK_LAUNCH();
}

}  // namespace

void CudaBackend::random_uniform(const Tensor& out, uint64_t seed, uint64_t offset) {
  if (!out.is_contiguous()) return launch_strided<false>(out, seed, offset, "random_uniform");
  int64_t numel = out.numel();
  if (numel == 0) return;
  DeviceGuard guard(out);
  uniform_dense_kernel<<<blocks_for((numel + 3) / 4, 256, 1 << 20), 256, 0, guard.stream()>>>(
      out.data_ptr(), numel, seed, offset);
  QTORCH_CUDA_CHECK_LAUNCH();
}

void CudaBackend::random_normal(const Tensor& out, uint64_t seed, uint64_t offset) {
  launch_strided<true>(out, seed, offset, "random_normal");
}

}  // namespace qtorch::cuda
