// im2col and col2im for convolution by GEMM. col is [g.c*kh*kw, N*out_h*out_w]: row
// (c*kh + i)*kw + j, column (n*out_h + oh)*out_w + ow holds
// x[n, c0 + c, oh*stride_h - pad_h + i*dil_h, ow*stride_w - pad_w + j*dil_w] (0 in padding).
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"

namespace qtorch::cuda {
namespace {

/// One thread per col element; consecutive threads write consecutive columns.
__global__ void im2col_kernel(const float* x, int64_t x_channels, int64_t c0, Window2d g,
                              float* col) {
  int64_t cols = g.n * g.out_h * g.out_w;
  int64_t total = g.c * g.kh * g.kw * cols;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t row = idx / cols, column = idx % cols;
    int64_t j = row % g.kw, i = row / g.kw % g.kh, c = row / (g.kw * g.kh);
    int64_t ow = column % g.out_w, oh = column / g.out_w % g.out_h, n = column / (g.out_w * g.out_h);
    int64_t h = oh * g.stride_h - g.pad_h + i * g.dil_h;
    int64_t w = ow * g.stride_w - g.pad_w + j * g.dil_w;
    float v = 0.0f;
    if (h >= 0 && h < g.h && w >= 0 && w < g.w) v = x[((n * x_channels + c0 + c) * g.h + h) * g.w + w];
    col[idx] = v;
  }
}

/// One thread per x_grad element of the group's channels, gathering its window entries
/// in (i, j) order; no atomics, so the result is deterministic.
__global__ void col2im_kernel(const float* col, int64_t x_channels, int64_t c0, Window2d g,
                              float* x_grad) {
  int64_t cols = g.n * g.out_h * g.out_w;
  int64_t total = g.n * g.c * g.h * g.w;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t w = idx % g.w, h = idx / g.w % g.h, c = idx / (g.w * g.h) % g.c,
            n = idx / (g.w * g.h * g.c);
    float* dst = x_grad + ((n * x_channels + c0 + c) * g.h + h) * g.w + w;
    float acc = *dst;
    for (int64_t i = 0; i < g.kh; ++i) {
      int64_t hh = h + g.pad_h - i * g.dil_h;
      if (hh < 0 || hh % g.stride_h != 0) continue;
      int64_t oh = hh / g.stride_h;
      if (oh >= g.out_h) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        int64_t ww = w + g.pad_w - j * g.dil_w;
        if (ww < 0 || ww % g.stride_w != 0) continue;
        int64_t ow = ww / g.stride_w;
        if (ow >= g.out_w) continue;
        int64_t row = (c * g.kh + i) * g.kw + j;
        acc += col[row * cols + (n * g.out_h + oh) * g.out_w + ow];
      }
    }
    *dst = acc;
  }
}

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
  im2col_kernel<<<blocks_for(col.numel(), 256), 256, 0, guard.stream()>>>(x.data_ptr(), x_channels,
                                                                        c0, g, col.data_ptr());
  QTORCH_CUDA_CHECK_LAUNCH();
}

void CudaBackend::col2im(const Tensor& col, int64_t x_channels, int64_t c0, const Window2d& g,
                         const Tensor& x_grad) {
  check_geometry("col2im", x_grad, x_channels, c0, g, col);
  int64_t total = g.n * g.c * g.h * g.w;
  if (total == 0) return;
  DeviceGuard guard(x_grad);
  col2im_kernel<<<blocks_for(total, 256), 256, 0, guard.stream()>>>(col.data_ptr(), x_channels, c0,
                                                                   g, x_grad.data_ptr());
  QTORCH_CUDA_CHECK_LAUNCH();
}

}  // namespace qtorch::cuda
