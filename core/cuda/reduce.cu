// The CUDA backend's reductions: argument checks, the empty case, scratch memory from the
// caching allocator, and the kernels of reduce_kernels.cuh.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"
#include "qtorch/core/cuda/queued_launch.cuh"
#include "qtorch/core/cuda/reduce_kernels.cuh"
#include "qtorch/core/cuda/scratch.h"

#include <optional>

namespace qtorch::cuda {

void CudaBackend::reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
                         const Tensor& out) {
  QTORCH_CHECK(x.is_contiguous() && out.is_contiguous(),
               "reduce: expected contiguous tensors on CUDA");
  QTORCH_CHECK(x.numel() == outer * n * inner && out.numel() == outer * inner,
               "reduce: expected x of {} and out of {} elements, got {} and {}", outer * n * inner,
               outer * inner, x.numel(), out.numel());
  if (outer * inner == 0) return;
  if (n == 0) {
    float empty = op == ReduceOp::Sum      ? 0.0f
                  : op == ReduceOp::Max    ? -std::numeric_limits<float>::infinity()
                  : op == ReduceOp::Min    ? std::numeric_limits<float>::infinity()
                                           : 0.0f;
    fill(out, empty);
    return;
  }
  DeviceGuard guard(x);
  std::optional<Scratch<reduce_kernels::Acc>> scratch;
  auto acquire = [&](int64_t count) { return scratch.emplace(count, guard.device()).p; };
  reduce_kernels::run_reduce(op, x.data_ptr(), outer, n, inner, out.data_ptr(), acquire, QueuedLaunch{guard.stream()});
}

}  // namespace qtorch::cuda
