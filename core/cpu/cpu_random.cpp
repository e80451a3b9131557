// CPU random fills from the counter-based Philox generator (same bits as CUDA).
#include "qtorch/core/cpu/cpu_backend.h"
#include "qtorch/core/cpu/parallel.h"
#include "qtorch/core/philox.h"

namespace qtorch::cpu {

void CpuBackend::random_uniform(const Tensor& out, uint64_t seed, uint64_t offset) {
  float* o = out.data_ptr();
  const int64_t n = out.numel();
  parallel_for(n, n > kParallelGrain, [&](int64_t i) { o[i] = philox_uniform(seed, offset, static_cast<uint64_t>(i)); });
}

void CpuBackend::random_normal(const Tensor& out, uint64_t seed, uint64_t offset) {
  float* o = out.data_ptr();
  const int64_t n = out.numel();
  parallel_for(n, n > kParallelGrain, [&](int64_t i) { o[i] = philox_normal(seed, offset, static_cast<uint64_t>(i)); });
}

}  // namespace qtorch::cpu
