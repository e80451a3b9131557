// Uniform and normal random tensors on the GPU (random_kernels.cuh), with the CPU's bits.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"
#include "qtorch/core/cuda/queued_launch.cuh"
#include "qtorch/core/cuda/random_kernels.cuh"

namespace qtorch::cuda {
namespace {

template <bool kNormal>
void launch_strided(const Tensor& out, uint64_t seed, uint64_t offset, const char* op) {
  const Tensor* t[1] = {&out};
  const StridedPlan<1> p = make_plan<1>(t, op);
  if (p.numel == 0) return;
  DeviceGuard guard(out);
  random_kernels::run_random_strided<kNormal>(p, seed, offset, QueuedLaunch{guard.stream()});
}

}  // namespace

void CudaBackend::random_uniform(const Tensor& out, uint64_t seed, uint64_t offset) {
  if (!out.is_contiguous()) return launch_strided<false>(out, seed, offset, "random_uniform");
  if (out.numel() == 0) return;
  DeviceGuard guard(out);
  random_kernels::run_uniform_dense(out.data_ptr(), out.numel(), seed, offset, QueuedLaunch{guard.stream()});
}

void CudaBackend::random_normal(const Tensor& out, uint64_t seed, uint64_t offset) {
  launch_strided<true>(out, seed, offset, "random_normal");
}

}  // namespace qtorch::cuda
