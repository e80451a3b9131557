// im2col and col2im for convolution by GEMM. col is [g.c*kh*kw, N*out_h*out_w]: row
// (c*kh + i)*kw + j, column (n*out_h + oh)*out_w + ow holds
// x[n, c0 + c, oh*stride_h - pad_h + i*dil_h, ow*stride_w - pad_w + j*dil_w] (0 in padding).
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc

#include <algorithm>

#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"
#include "qtorch/core/cuda/window_index.cuh"

namespace qtorch::cuda {
namespace {

/// Grid y walks the rows of col (uniform per CUDA block: the channel and kernel offset are
/// worked out once), grid x its columns; consecutive threads write consecutive columns.
template <class I>
__global__ void im2col_kernel(const float* x, I x_channels, I c0, WindowIndex<I> g, float* col) {
  const I plane = g.out_h * g.out_w, cols = g.n * plane, rows = g.c * g.kh * g.kw;
  const I image = x_channels * g.h * g.w;  // one sample of x
  for (I row = blockIdx.y; row < rows; row += gridDim.y) {
    const I j = row % g.kw, i = row / g.kw % g.kh, c = row / (g.kw * g.kh);
    const I dh = i * g.dil_h - g.pad_h, dw = j * g.dil_w - g.pad_w;
    const float* xc = x + (c0 + c) * g.h * g.w;
    float* out = col + row * cols;
    for (I column = blockIdx.x * blockDim.x + threadIdx.x; column < cols; column += gridDim.x * blockDim.x) {
      const I n = column / plane, p = column - n * plane;
      const I oh = p / g.out_w, ow = p - oh * g.out_w;
      const I h = oh * g.stride_h + dh, w = ow * g.stride_w + dw;
      float v = 0.0f;
      if (h >= 0 && h < g.h && w >= 0 && w < g.w) v = xc[n * image + h * g.w + w];
      out[column] = v;
    }
  }
}

/// The output position a kernel tap at offset `along` (input coordinate + padding - tap
/// offset) comes from, or -1 when no output position uses it.
template <class I>
__device__ __forceinline__ I window_source(I along, I stride, I extent) {
  if (along < 0) return -1;
  I o = along;
  if (stride != 1) {  // uniform: most convolutions have stride 1 and skip the division
    if (along % stride != 0) return -1;
    o = along / stride;
  }
  return o < extent ? o : -1;
}

/// One thread per x_grad element of the group's channels, gathering its window entries
/// in (i, j) order; no atomics, so the result is deterministic.
template <class I>
__global__ void col2im_kernel(const float* col, I x_channels, I c0, WindowIndex<I> g, float* x_grad) {
  const I cols = g.n * g.out_h * g.out_w;
  const I total = g.n * g.c * g.h * g.w;
  for (I idx = blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += gridDim.x * blockDim.x) {
    const I w = idx % g.w, h = idx / g.w % g.h, c = idx / (g.w * g.h) % g.c, n = idx / (g.w * g.h * g.c);
    float* dst = x_grad + ((n * x_channels + c0 + c) * g.h + h) * g.w + w;
    float acc = *dst;
    for (I i = 0; i < g.kh; ++i) {
      const I oh = window_source(h + g.pad_h - i * g.dil_h, g.stride_h, g.out_h);
      if (oh < 0) continue;
      for (I j = 0; j < g.kw; ++j) {
        const I ow = window_source(w + g.pad_w - j * g.dil_w, g.stride_w, g.out_w);
        if (ow < 0) continue;
        const I row = (c * g.kh + i) * g.kw + j;
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
  const int64_t rows = g.c * g.kh * g.kw, cols = g.n * g.out_h * g.out_w;
  const dim3 grid(blocks_for(cols, 256, 4096), static_cast<unsigned>(std::min<int64_t>(rows, 65535)));
  with_index_type(std::max(x.numel(), col.numel()), [&](auto zero) {
    using I = decltype(zero);
    im2col_kernel<I><<<grid, 256, 0, guard.stream()>>>(x.data_ptr(), static_cast<I>(x_channels), static_cast<I>(c0),
                                                       WindowIndex<I>(g), col.data_ptr());
  });
  QTORCH_CUDA_CHECK_LAUNCH();
}

void CudaBackend::col2im(const Tensor& col, int64_t x_channels, int64_t c0, const Window2d& g,
                         const Tensor& x_grad) {
  check_geometry("col2im", x_grad, x_channels, c0, g, col);
  const int64_t total = g.n * g.c * g.h * g.w;
  if (total == 0) return;
  DeviceGuard guard(x_grad);
  with_index_type(std::max(x_grad.numel(), col.numel()), [&](auto zero) {
    using I = decltype(zero);
    col2im_kernel<I><<<blocks_for(total, 256), 256, 0, guard.stream()>>>(
        col.data_ptr(), static_cast<I>(x_channels), static_cast<I>(c0), WindowIndex<I>(g), x_grad.data_ptr());
  });
  QTORCH_CUDA_CHECK_LAUNCH();
}

}  // namespace qtorch::cuda
