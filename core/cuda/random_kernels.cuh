// The CUDA backend's random fills from the Philox generator shared with the CPU
// (core/philox.h): element i (row-major) is philox_uniform/philox_normal(seed, offset, i),
// whatever the launch shape. A dense uniform tensor takes one Philox block per 4 elements
// (float4 stores where aligned); other layouts and normals one element per thread through a
// StridedPlan. With the host code that launches them (taking launch(kernel, grid, threads,
// args...): cuda::QueuedLaunch in the library). Plain C++ apart from the CUDA keywords that
// tests/support/cuda_emulation.h provides, so tests/core/random_kernels_emulated_test.cpp runs
// them on the CPU against the CPU backend.
#pragma once

#include <cstdint>

#include "qtorch/core/cuda/grid.h"
#include "qtorch/core/cuda/strided_plan.h"
#include "qtorch/core/philox.h"

namespace qtorch::cuda::random_kernels {

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

/// out[0, numel) dense: uniform in [0, 1).
template <class Launch>
void run_uniform_dense(float* out, int64_t numel, uint64_t seed, uint64_t offset, const Launch& launch) {
  if (numel == 0) return;
  launch(uniform_dense_kernel, dim3(blocks_for((numel + 3) / 4, 256, 1 << 20)), dim3(256), out, numel, seed, offset);
}

/// The plan's one tensor, any layout: uniform in [0, 1), or standard normal.
template <bool kNormal, class Launch>
void run_random_strided(const StridedPlan<1>& p, uint64_t seed, uint64_t offset, const Launch& launch) {
  if (p.numel == 0) return;
  launch(random_strided_kernel<kNormal>, dim3(blocks_for(p.numel, 256, 1 << 20)), dim3(256), p, seed, offset);
}

}  // namespace qtorch::cuda::random_kernels
