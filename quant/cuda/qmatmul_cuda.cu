// qmatmul_cuda (quant/qmatmul_cuda.h): the launch of quant/cuda/qmatmul_kernels.cuh on the
// device's stream.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/queued_launch.cuh"
#include "qtorch/quant/cuda/qmatmul_kernels.cuh"
#include "qtorch/quant/qmatmul_cuda.h"

namespace qtorch::quant {

void qmatmul_cuda(const float* a, const float* bt, float* out, const MacParams& m, uint64_t seed,
                  uint64_t offset) {
  if (m.M * m.N <= 0) return;
  cuda::DeviceGuard guard(cuda::device_of_pointer(out));
  qmatmul_kernels::run_qmatmul(a, bt, out, m, seed, offset, cuda::QueuedLaunch{guard.stream()});
}

}  // namespace qtorch::quant
