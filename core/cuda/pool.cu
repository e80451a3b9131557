// CudaBackend's max and average pooling over contiguous [N, C, H, W], forward and backward:
// checks, then the launches of core/cuda/window_kernels.cuh.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc

#include <algorithm>

#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"
#include "qtorch/core/cuda/queued_launch.cuh"
#include "qtorch/core/cuda/window_kernels.cuh"

namespace qtorch::cuda {
namespace {

void check_pool(const char* op, const Window2d& g, const Tensor& in, const Tensor& out) {
  QTORCH_CHECK(in.is_contiguous() && out.is_contiguous(), "{}: expected contiguous tensors", op);
  QTORCH_CHECK(in.numel() == g.n * g.c * g.h * g.w && out.numel() == g.n * g.c * g.out_h * g.out_w,
               "{}: expected [{}, {}, {}, {}] in and [{}, {}, {}, {}] out, got {} and {} elements",
               op, g.n, g.c, g.h, g.w, g.n, g.c, g.out_h, g.out_w, in.numel(), out.numel());
  QTORCH_CHECK(g.stride_h > 0 && g.stride_w > 0 && g.kh > 0 && g.kw > 0,
               "{}: expected positive kernel and strides", op);
}

}  // namespace

void CudaBackend::max_pool2d(const Tensor& x, const Window2d& g, const Tensor& out,
                             const Tensor& indices) {
  check_pool("max_pool2d", g, x, out);
  QTORCH_CHECK(indices.is_contiguous() && indices.numel() == out.numel(),
               "max_pool2d: expected contiguous indices of {} elements", out.numel());
  if (out.numel() == 0) return;
  DeviceGuard guard(x);
  window_kernels::run_max_pool(x.data_ptr(), g, out.data_ptr(), indices.data_ptr(), QueuedLaunch{guard.stream()});
}

void CudaBackend::max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                                      const Window2d& g, const Tensor& grad_in) {
  check_pool("max_pool2d_backward", g, grad_in, grad_out);
  if (grad_in.numel() == 0) return;
  DeviceGuard guard(grad_in);
  window_kernels::run_max_pool_backward(grad_out.data_ptr(), indices.data_ptr(), g, grad_in.data_ptr(),
                                        QueuedLaunch{guard.stream()});
}

void CudaBackend::avg_pool2d(const Tensor& x, const Window2d& g, const Tensor& out) {
  check_pool("avg_pool2d", g, x, out);
  if (out.numel() == 0) return;
  DeviceGuard guard(x);
  window_kernels::run_avg_pool(x.data_ptr(), g, out.data_ptr(), QueuedLaunch{guard.stream()});
}

void CudaBackend::avg_pool2d_backward(const Tensor& grad_out, const Window2d& g,
                                      const Tensor& grad_in) {
  check_pool("avg_pool2d_backward", g, grad_in, grad_out);
  if (grad_in.numel() == 0) return;
  DeviceGuard guard(grad_in);
  window_kernels::run_avg_pool_backward(grad_out.data_ptr(), g, grad_in.data_ptr(), QueuedLaunch{guard.stream()});
}

}  // namespace qtorch::cuda
