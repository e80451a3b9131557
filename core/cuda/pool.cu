// Max and average pooling over contiguous [N, C, H, W], forward and backward. The
// backward kernels gather (one thread per input element, windows visited in output
// order) instead of scattering with atomics, so they are deterministic and add in the CPU
// backend's order. As on the CPU, pooling windows ignore dilation.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"

namespace qtorch::cuda {
namespace {

#define QTORCH_GRID_LOOP(idx, total)                                                       \
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < (total); \
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x)

/// Max over the window, padding ignored; the first maximum in (i, j) order wins, and a NaN
/// wins over numbers (the CPU's rule, including its break out of the j loop).
__global__ void max_pool_kernel(const float* x, Window2d g, float* out, float* indices) {
  int64_t total = g.n * g.c * g.out_h * g.out_w;
  QTORCH_GRID_LOOP(idx, total) {
    int64_t ow = idx % g.out_w, oh = idx / g.out_w % g.out_h, nc = idx / (g.out_w * g.out_h);
    const float* plane = x + nc * g.h * g.w;
    float best = -INFINITY;
    int64_t best_at = -1;
    for (int64_t i = 0; i < g.kh; ++i) {
      int64_t h = oh * g.stride_h - g.pad_h + i;
      if (h < 0 || h >= g.h) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        int64_t w = ow * g.stride_w - g.pad_w + j;
        if (w < 0 || w >= g.w) continue;
        float v = plane[h * g.w + w];
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
template <class F>
__device__ __forceinline__ void for_each_window(const Window2d& g, int64_t h, int64_t w, F f) {
  for (int64_t i = g.kh - 1; i >= 0; --i) {
    int64_t hh = h + g.pad_h - i;
    if (hh < 0 || hh % g.stride_h != 0 || hh / g.stride_h >= g.out_h) continue;
    for (int64_t j = g.kw - 1; j >= 0; --j) {
      int64_t ww = w + g.pad_w - j;
      if (ww < 0 || ww % g.stride_w != 0 || ww / g.stride_w >= g.out_w) continue;
      f(hh / g.stride_h, ww / g.stride_w);
    }
  }
}

__global__ void max_pool_backward_kernel(const float* grad_out, const float* indices, Window2d g,
                                         float* grad_in) {
  int64_t total = g.n * g.c * g.h * g.w;
  QTORCH_GRID_LOOP(idx, total) {
    int64_t w = idx % g.w, h = idx / g.w % g.h, nc = idx / (g.w * g.h);
    int64_t base = nc * g.out_h * g.out_w;
    float here = static_cast<float>(h * g.w + w);
    float acc = 0.0f;  // grad_in is overwritten, as on the CPU
    for_each_window(g, h, w, [&](int64_t oh, int64_t ow) {
      int64_t o = base + oh * g.out_w + ow;
      if (indices[o] == here) acc += grad_out[o];
    });
    grad_in[idx] = acc;
  }
}

/// Mean over the window with padding counted as zeros (count_include_pad).
__global__ void avg_pool_kernel(const float* x, Window2d g, float* out) {
  int64_t total = g.n * g.c * g.out_h * g.out_w;
  float inv = 1.0f / static_cast<float>(g.kh * g.kw);
  QTORCH_GRID_LOOP(idx, total) {
    int64_t ow = idx % g.out_w, oh = idx / g.out_w % g.out_h, nc = idx / (g.out_w * g.out_h);
    const float* plane = x + nc * g.h * g.w;
    float sum = 0.0f;
    for (int64_t i = 0; i < g.kh; ++i) {
      int64_t h = oh * g.stride_h - g.pad_h + i;
      if (h < 0 || h >= g.h) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        int64_t w = ow * g.stride_w - g.pad_w + j;
        if (w < 0 || w >= g.w) continue;
        sum += plane[h * g.w + w];
      }
    }
    out[idx] = sum * inv;
  }
}

__global__ void avg_pool_backward_kernel(const float* grad_out, Window2d g, float* grad_in) {
  int64_t total = g.n * g.c * g.h * g.w;
  float inv = 1.0f / static_cast<float>(g.kh * g.kw);
  QTORCH_GRID_LOOP(idx, total) {
    int64_t w = idx % g.w, h = idx / g.w % g.h, nc = idx / (g.w * g.h);
    int64_t base = nc * g.out_h * g.out_w;
    float acc = grad_in[idx];
    // __fmul_rn: never contracted into an FMA, so each term is rounded as on the CPU.
    for_each_window(g, h, w, [&](int64_t oh, int64_t ow) {
      acc += __fmul_rn(grad_out[base + oh * g.out_w + ow], inv);
    });
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
  max_pool_kernel<<<blocks_for(out.numel(), 256), 256, 0, guard.stream()>>>(
      x.data_ptr(), g, out.data_ptr(), indices.data_ptr());
  QTORCH_CUDA_CHECK_LAUNCH();
}

void CudaBackend::max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                                      const Window2d& g, const Tensor& grad_in) {
  check_pool("max_pool2d_backward", g, grad_in, grad_out);
  if (grad_in.numel() == 0) return;
  DeviceGuard guard(grad_in);
  max_pool_backward_kernel<<<blocks_for(grad_in.numel(), 256), 256, 0, guard.stream()>>>(
      grad_out.data_ptr(), indices.data_ptr(), g, grad_in.data_ptr());
  QTORCH_CUDA_CHECK_LAUNCH();
}

void CudaBackend::avg_pool2d(const Tensor& x, const Window2d& g, const Tensor& out) {
  check_pool("avg_pool2d", g, x, out);
  if (out.numel() == 0) return;
  DeviceGuard guard(x);
  avg_pool_kernel<<<blocks_for(out.numel(), 256), 256, 0, guard.stream()>>>(x.data_ptr(), g,
                                                                           out.data_ptr());
  QTORCH_CUDA_CHECK_LAUNCH();
}

void CudaBackend::avg_pool2d_backward(const Tensor& grad_out, const Window2d& g,
                                      const Tensor& grad_in) {
  check_pool("avg_pool2d_backward", g, grad_in, grad_out);
  if (grad_in.numel() == 0) return;
  DeviceGuard guard(grad_in);
  avg_pool_backward_kernel<<<blocks_for(grad_in.numel(), 256), 256, 0, guard.stream()>>>(
      grad_out.data_ptr(), g, grad_in.data_ptr());
  QTORCH_CUDA_CHECK_LAUNCH();
}

}  // namespace qtorch::cuda
