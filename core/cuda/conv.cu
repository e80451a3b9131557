// CudaBackend's im2col and col2im for convolution by GEMM: checks, then the launches of
// core/cuda/window_kernels.cuh (where the layout of col is described).
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc

#include <algorithm>

#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"
#include "qtorch/core/cuda/queued_launch.cuh"
#include "qtorch/core/cuda/window_kernels.cuh"

namespace qtorch::cuda {
namespace {

void check_geometry(const char* op, const Tensor& x, int64_t x_channels, int64_t c0,
                    const Window2d& g, const Tensor& col) {
  QTORCH_CHECK(x.is_contiguous() && col.is_contiguous(), "{}: expected contiguous tensors", op);
  QTORCH_CHECK(c0 >= 0 && c0 + g.c <= x_channels && x.numel() == g.n * x_channels * g.h * g.w,
               "{}: expected x of [{}, {}, {}, {}] holding channels [{}, {}), got {} elements", op,
               g.n, x_channels, g.h, g.w, c0, c0 + g.c, x.numel());
  QTORCH_CHECK(col.numel() == g.c * g.kh * g.kw * g.n * g.out_h * g.out_w,
               "{}: expected col of {} x {} elements, got {}", op, g.c * g.kh * g.kw,
               g.n * g.out_h * g.out_w, col.numel());
  QTORCH_CHECK(g.stride_h > 0 && g.stride_w > 0 && g.dil_h > 0 && g.dil_w > 0,
               "{}: expected positive strides and dilations", op);
}

}  // namespace

void CudaBackend::im2col(const Tensor& x, int64_t x_channels, int64_t c0, const Window2d& g,
                         const Tensor& col) {
  check_geometry("im2col", x, x_channels, c0, g, col);
  if (col.numel() == 0) return;
  DeviceGuard guard(x);
  window_kernels::run_im2col(x.data_ptr(), x_channels, c0, g, col.data_ptr(), QueuedLaunch{guard.stream()});
}

void CudaBackend::col2im(const Tensor& col, int64_t x_channels, int64_t c0, const Window2d& g,
                         const Tensor& x_grad) {
  check_geometry("col2im", x_grad, x_channels, c0, g, col);
  if (g.n * g.c * g.h * g.w == 0) return;
  DeviceGuard guard(x_grad);
  window_kernels::run_col2im(col.data_ptr(), x_channels, c0, g, x_grad.data_ptr(), QueuedLaunch{guard.stream()});
}

}  // namespace qtorch::cuda
