// The window kernels of the CUDA backend: im2col and col2im for convolution by GEMM
// (core/cuda/conv.cu), and max and average pooling with their gradients (core/cuda/pool.cu),
// with the host code that launches them (run_*, taking launch(kernel, grid, threads, args...):
// cuda::QueuedLaunch in the library). Plain C++ apart from the CUDA keywords and intrinsics
// that tests/support/cuda_emulation.h provides, so that
// tests/core/window_kernels_emulated_test.cpp runs them on the CPU against the CPU backend.
//
// im2col's col is [g.c*kh*kw, N*out_h*out_w]: row (c*kh + i)*kw + j, column
// (n*out_h + oh)*out_w + ow holds x[n, c0 + c, oh*stride_h - pad_h + i*dil_h,
// ow*stride_w - pad_w + j*dil_w] (0 in padding). The backward kernels gather (one thread per
// input element, windows visited in output order) instead of scattering with atomics, so
// they are deterministic and add in the CPU backend's order. As on the CPU, pooling windows
// ignore dilation.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "qtorch/core/cuda/grid.h"
#include "qtorch/core/cuda/window_index.cuh"
#include "qtorch/core/pool_window.h"

namespace qtorch::cuda::window_kernels {

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

#define QTORCH_GRID_LOOP(idx, total) \
  for (I idx = blockIdx.x * blockDim.x + threadIdx.x; idx < (total); idx += gridDim.x * blockDim.x)

/// Max over the window (core/pool_window.h, the CPU's function).
template <class I>
__global__ void max_pool_kernel(const float* x, WindowIndex<I> g, float* out, float* indices) {
  const I total = g.n * g.c * g.out_h * g.out_w;
  QTORCH_GRID_LOOP(idx, total) {
    const I ow = idx % g.out_w, oh = idx / g.out_w % g.out_h, nc = idx / (g.out_w * g.out_h);
    float best;
    I best_at;
    max_pool_window(x + nc * g.h * g.w, g, oh, ow, best, best_at);
    out[idx] = best;
    indices[idx] = static_cast<float>(best_at);
  }
}

/// Calls f(oh, ow) for every output window that covers input (h, w), in increasing
/// (oh, ow) order: the order in which a sequential scatter over outputs adds them.
template <class I, class F>
__device__ __forceinline__ void for_each_window(const WindowIndex<I>& g, I h, I w, F f) {
  for (I i = g.kh - 1; i >= 0; --i) {
    const I hh = h + g.pad_h - i;
    if (hh < 0 || hh % g.stride_h != 0 || hh / g.stride_h >= g.out_h) continue;
    for (I j = g.kw - 1; j >= 0; --j) {
      const I ww = w + g.pad_w - j;
      if (ww < 0 || ww % g.stride_w != 0 || ww / g.stride_w >= g.out_w) continue;
      f(hh / g.stride_h, ww / g.stride_w);
    }
  }
}

template <class I>
__global__ void max_pool_backward_kernel(const float* grad_out, const float* indices, WindowIndex<I> g,
                                         float* grad_in) {
  const I total = g.n * g.c * g.h * g.w;
  QTORCH_GRID_LOOP(idx, total) {
    const I w = idx % g.w, h = idx / g.w % g.h, nc = idx / (g.w * g.h);
    const I base = nc * g.out_h * g.out_w;
    const float here = static_cast<float>(h * g.w + w);
    float acc = 0.0f;  // grad_in is overwritten, as on the CPU
    for_each_window(g, h, w, [&](I oh, I ow) {
      const I o = base + oh * g.out_w + ow;
      if (indices[o] == here) acc += grad_out[o];
    });
    grad_in[idx] = acc;
  }
}

/// Mean over the window with padding counted as zeros (core/pool_window.h, the CPU's function).
template <class I>
__global__ void avg_pool_kernel(const float* x, WindowIndex<I> g, float* out) {
  const I total = g.n * g.c * g.out_h * g.out_w;
  const float window_size = static_cast<float>(g.kh * g.kw);
  QTORCH_GRID_LOOP(idx, total) {
    const I ow = idx % g.out_w, oh = idx / g.out_w % g.out_h, nc = idx / (g.out_w * g.out_h);
    out[idx] = avg_pool_window(x + nc * g.h * g.w, g, oh, ow, window_size);
  }
}

template <class I>
__global__ void avg_pool_backward_kernel(const float* grad_out, WindowIndex<I> g, float* grad_in) {
  const I total = g.n * g.c * g.h * g.w;
  const float window_size = static_cast<float>(g.kh * g.kw);
  QTORCH_GRID_LOOP(idx, total) {
    const I w = idx % g.w, h = idx / g.w % g.h, nc = idx / (g.w * g.h);
    const I base = nc * g.out_h * g.out_w;
    float acc = grad_in[idx];
    // __fdiv_rn: the correctly rounded quotient, as the CPU's (and PyTorch's) division.
    for_each_window(g, h, w, [&](I oh, I ow) { acc += __fdiv_rn(grad_out[base + oh * g.out_w + ow], window_size); });
    grad_in[idx] = acc;
  }
}

#undef QTORCH_GRID_LOOP

// ---- launches over contiguous arrays (g as from ops::conv2d_geometry / pool2d_geometry) ----

/// col = im2col of channels [c0, c0 + g.c) of x [N, x_channels, H, W].
template <class Launch>
void run_im2col(const float* x, int64_t x_channels, int64_t c0, const Window2d& g, float* col, Launch launch) {
  const int64_t rows = g.c * g.kh * g.kw, cols = g.n * g.out_h * g.out_w;
  if (rows * cols == 0) return;
  const dim3 grid(blocks_for(cols, 256, 4096), static_cast<unsigned>(std::min<int64_t>(rows, 65535)));
  with_window_index_type(g, std::max(g.n * x_channels * g.h * g.w, rows * cols), [&](auto zero) {
    using I = decltype(zero);
    launch(im2col_kernel<I>, grid, dim3(256), x, static_cast<I>(x_channels), static_cast<I>(c0), WindowIndex<I>(g),
           col);
  });
}

/// Adds col back into channels [c0, c0 + g.c) of x_grad [N, x_channels, H, W].
template <class Launch>
void run_col2im(const float* col, int64_t x_channels, int64_t c0, const Window2d& g, float* x_grad, Launch launch) {
  const int64_t total = g.n * g.c * g.h * g.w;
  if (total == 0) return;
  const int64_t elements = std::max(g.n * x_channels * g.h * g.w, g.c * g.kh * g.kw * g.n * g.out_h * g.out_w);
  with_window_index_type(g, elements, [&](auto zero) {
    using I = decltype(zero);
    launch(col2im_kernel<I>, dim3(blocks_for(total, 256)), dim3(256), col, static_cast<I>(x_channels),
           static_cast<I>(c0), WindowIndex<I>(g), x_grad);
  });
}

/// The elements of a pooling's input and output: the index type's bound.
inline int64_t pool_largest(const Window2d& g) {
  return std::max(g.n * g.c * g.h * g.w, g.n * g.c * g.out_h * g.out_w);
}

template <class Launch>
void run_max_pool(const float* x, const Window2d& g, float* out, float* indices, Launch launch) {
  const int64_t outputs = g.n * g.c * g.out_h * g.out_w;
  if (outputs == 0) return;
  with_window_index_type(g, pool_largest(g), [&](auto zero) {
    using I = decltype(zero);
    launch(max_pool_kernel<I>, dim3(blocks_for(outputs, 256)), dim3(256), x, WindowIndex<I>(g), out, indices);
  });
}

template <class Launch>
void run_max_pool_backward(const float* grad_out, const float* indices, const Window2d& g, float* grad_in,
                           Launch launch) {
  const int64_t inputs = g.n * g.c * g.h * g.w;
  if (inputs == 0) return;
  with_window_index_type(g, pool_largest(g), [&](auto zero) {
    using I = decltype(zero);
    launch(max_pool_backward_kernel<I>, dim3(blocks_for(inputs, 256)), dim3(256), grad_out, indices,
           WindowIndex<I>(g), grad_in);
  });
}

template <class Launch>
void run_avg_pool(const float* x, const Window2d& g, float* out, Launch launch) {
  const int64_t outputs = g.n * g.c * g.out_h * g.out_w;
  if (outputs == 0) return;
  with_window_index_type(g, pool_largest(g), [&](auto zero) {
    using I = decltype(zero);
    launch(avg_pool_kernel<I>, dim3(blocks_for(outputs, 256)), dim3(256), x, WindowIndex<I>(g), out);
  });
}

/// Adds the gradient into grad_in (zeroed by the caller, as on the CPU).
template <class Launch>
void run_avg_pool_backward(const float* grad_out, const Window2d& g, float* grad_in, Launch launch) {
  const int64_t inputs = g.n * g.c * g.h * g.w;
  if (inputs == 0) return;
  with_window_index_type(g, pool_largest(g), [&](auto zero) {
    using I = decltype(zero);
    launch(avg_pool_backward_kernel<I>, dim3(blocks_for(inputs, 256)), dim3(256), grad_out, WindowIndex<I>(g),
           grad_in);
  });
}

}  // namespace qtorch::cuda::window_kernels
