// Max and average pooling over contiguous [N, C, H, W], forward and backward. The
// backward kernels gather (one thread per input element, windows visited in output
// order) instead of scattering with atomics, so they are deterministic and add in the CPU
// backend's order. As on the CPU, pooling windows ignore dilation.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc

#include <algorithm>

#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"
#include "qtorch/core/cuda/window_index.cuh"

namespace qtorch::cuda {
namespace {

#define QTORCH_GRID_LOOP(idx, total) \
  for (I idx = blockIdx.x * blockDim.x + threadIdx.x; idx < (total); idx += gridDim.x * blockDim.x)

/// Max over the window, padding ignored; the first maximum in (i, j) order wins, and a NaN
/// wins over numbers (the CPU's rule, including its break out of the j loop).
template <class I>
__global__ void max_pool_kernel(const float* x, WindowIndex<I> g, float* out, float* indices) {
  const I total = g.n * g.c * g.out_h * g.out_w;
  QTORCH_GRID_LOOP(idx, total) {
    const I ow = idx % g.out_w, oh = idx / g.out_w % g.out_h, nc = idx / (g.out_w * g.out_h);
    const float* plane = x + nc * g.h * g.w;
    float best = -INFINITY;
    I best_at = -1;
    for (I i = 0; i < g.kh; ++i) {
      const I h = oh * g.stride_h - g.pad_h + i;
      if (h < 0 || h >= g.h) continue;
      for (I j = 0; j < g.kw; ++j) {
        const I w = ow * g.stride_w - g.pad_w + j;
        if (w < 0 || w >= g.w) continue;
        const float v = plane[h * g.w + w];
        if (best_at < 0 || v > best || v != v) {
          best = v;
          best_at = h * g.w + w;
          if (v != v) break;
        }
      }
    }
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

/// Mean over the window with padding counted as zeros (count_include_pad).
template <class I>
__global__ void avg_pool_kernel(const float* x, WindowIndex<I> g, float* out) {
  const I total = g.n * g.c * g.out_h * g.out_w;
  const float inv = 1.0f / static_cast<float>(g.kh * g.kw);
  QTORCH_GRID_LOOP(idx, total) {
    const I ow = idx % g.out_w, oh = idx / g.out_w % g.out_h, nc = idx / (g.out_w * g.out_h);
    const float* plane = x + nc * g.h * g.w;
    float sum = 0.0f;
    for (I i = 0; i < g.kh; ++i) {
      const I h = oh * g.stride_h - g.pad_h + i;
      if (h < 0 || h >= g.h) continue;
      for (I j = 0; j < g.kw; ++j) {
        const I w = ow * g.stride_w - g.pad_w + j;
        if (w < 0 || w >= g.w) continue;
        sum += plane[h * g.w + w];
      }
    }
    out[idx] = sum * inv;
  }
}

template <class I>
__global__ void avg_pool_backward_kernel(const float* grad_out, WindowIndex<I> g, float* grad_in) {
  const I total = g.n * g.c * g.h * g.w;
  const float inv = 1.0f / static_cast<float>(g.kh * g.kw);
  QTORCH_GRID_LOOP(idx, total) {
    const I w = idx % g.w, h = idx / g.w % g.h, nc = idx / (g.w * g.h);
    const I base = nc * g.out_h * g.out_w;
    float acc = grad_in[idx];
    // __fmul_rn: never contracted into an FMA, so each term is rounded as on the CPU.
    for_each_window(g, h, w, [&](I oh, I ow) { acc += __fmul_rn(grad_out[base + oh * g.out_w + ow], inv); });
    grad_in[idx] = acc;
  }
}

#undef QTORCH_GRID_LOOP

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
  with_index_type(std::max(x.numel(), out.numel()), [&](auto zero) {
    using I = decltype(zero);
    max_pool_kernel<I><<<blocks_for(out.numel(), 256), 256, 0, guard.stream()>>>(
        x.data_ptr(), WindowIndex<I>(g), out.data_ptr(), indices.data_ptr());
  });
  QTORCH_CUDA_CHECK_LAUNCH();
}

void CudaBackend::max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                                      const Window2d& g, const Tensor& grad_in) {
  check_pool("max_pool2d_backward", g, grad_in, grad_out);
  if (grad_in.numel() == 0) return;
  DeviceGuard guard(grad_in);
  with_index_type(std::max(grad_in.numel(), grad_out.numel()), [&](auto zero) {
    using I = decltype(zero);
    max_pool_backward_kernel<I><<<blocks_for(grad_in.numel(), 256), 256, 0, guard.stream()>>>(
        grad_out.data_ptr(), indices.data_ptr(), WindowIndex<I>(g), grad_in.data_ptr());
  });
  QTORCH_CUDA_CHECK_LAUNCH();
}

void CudaBackend::avg_pool2d(const Tensor& x, const Window2d& g, const Tensor& out) {
  check_pool("avg_pool2d", g, x, out);
  if (out.numel() == 0) return;
  DeviceGuard guard(x);
  with_index_type(std::max(x.numel(), out.numel()), [&](auto zero) {
    using I = decltype(zero);
    avg_pool_kernel<I><<<blocks_for(out.numel(), 256), 256, 0, guard.stream()>>>(x.data_ptr(), WindowIndex<I>(g),
                                                                              out.data_ptr());
  });
  QTORCH_CUDA_CHECK_LAUNCH();
}

void CudaBackend::avg_pool2d_backward(const Tensor& grad_out, const Window2d& g,
                                      const Tensor& grad_in) {
  check_pool("avg_pool2d_backward", g, grad_in, grad_out);
  if (grad_in.numel() == 0) return;
  DeviceGuard guard(grad_in);
  with_index_type(std::max(grad_in.numel(), grad_out.numel()), [&](auto zero) {
    using I = decltype(zero);
    avg_pool_backward_kernel<I><<<blocks_for(grad_in.numel(), 256), 256, 0, guard.stream()>>>(
        grad_out.data_ptr(), WindowIndex<I>(g), grad_in.data_ptr());
  });
  QTORCH_CUDA_CHECK_LAUNCH();
}

}  // namespace qtorch::cuda
