// Softmax / log-softmax over the last axis of [rows, cols] on the GPU (softmax_kernels.cuh).
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"
#include "qtorch/core/cuda/queued_launch.cuh"
#include "qtorch/core/cuda/softmax_kernels.cuh"

namespace qtorch::cuda {

void CudaBackend::softmax(const Tensor& x, const Tensor& out, int64_t rows, int64_t cols, bool log) {
  QTORCH_CHECK(x.is_contiguous() && out.is_contiguous() && x.numel() == rows * cols &&
                   out.numel() == rows * cols,
               "softmax: expected contiguous x and out of {} x {} elements", rows, cols);
  if (rows == 0 || cols == 0) return;
  DeviceGuard guard(x);
  softmax_kernels::run_softmax(x.data_ptr(), out.data_ptr(), rows, cols, log, QueuedLaunch{guard.stream()});
}

}  // namespace qtorch::cuda
