// CPU im2col/col2im for convolution and the pooling kernels, over contiguous NCHW.
#include <limits>

#include "core/cpu/cpu_backend.h"

namespace qtorch::cpu {

// col[(c*kh + i)*kw + j, (n*out_h + oh)*out_w + ow] = x[n, c0 + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
void CpuBackend::im2col(const Tensor& x, int64_t x_channels, int64_t c0, const Window2d& g,
                        const Tensor& col) {
  const float* in = x.data_ptr();
  float* out = col.data_ptr();
  const int64_t rows = g.c * g.kh * g.kw, plane = g.out_h * g.out_w, cols = g.n * plane;
#pragma omp parallel for schedule(static) if (rows * cols > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r / (g.kh * g.kw), i = (r / g.kw) % g.kh, j = r % g.kw;
    float* dst = out + r * cols;
    for (int64_t n = 0; n < g.n; ++n) {
      const float* src = in + (n * x_channels + c0 + c) * g.h * g.w;
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        const int64_t h = oh * g.stride_h - g.pad_h + i * g.dil_h;
        float* d = dst + n * plane + oh * g.out_w;
        if (h < 0 || h >= g.h) {
          for (int64_t ow = 0; ow < g.out_w; ++ow) d[ow] = 0.0f;
          continue;
        }
        const float* s = src + h * g.w;
        const int64_t w0 = -g.pad_w + j * g.dil_w;
        if (g.stride_w == 1 && w0 >= 0 && w0 + g.out_w <= g.w) {
          for (int64_t ow = 0; ow < g.out_w; ++ow) d[ow] = s[w0 + ow];
        } else {
          for (int64_t ow = 0; ow < g.out_w; ++ow) {
            const int64_t w = ow * g.stride_w + w0;
            d[ow] = (w >= 0 && w < g.w) ? s[w] : 0.0f;
          }
        }
      }
    }
  }
}

void CpuBackend::col2im(const Tensor& col, int64_t x_channels, int64_t c0, const Window2d& g,
                        const Tensor& x_grad) {
  const float* in = col.data_ptr();
  float* out = x_grad.data_ptr();
  const int64_t plane = g.out_h * g.out_w, cols = g.n * plane;
  // Parallel over (n, c): each thread owns whole input planes, so no two write one element.
#pragma omp parallel for collapse(2) schedule(static) if (g.c * g.kh * g.kw * cols > kParallelGrain)
  for (int64_t n = 0; n < g.n; ++n) {
    for (int64_t c = 0; c < g.c; ++c) {
      float* dst = out + (n * x_channels + c0 + c) * g.h * g.w;
      for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw; ++j) {
          const float* src = in + ((c * g.kh + i) * g.kw + j) * cols + n * plane;
          for (int64_t oh = 0; oh < g.out_h; ++oh) {
            const int64_t h = oh * g.stride_h - g.pad_h + i * g.dil_h;
            if (h < 0 || h >= g.h) continue;
            for (int64_t ow = 0; ow < g.out_w; ++ow) {
              const int64_t w = ow * g.stride_w - g.pad_w + j * g.dil_w;
              if (w >= 0 && w < g.w) dst[h * g.w + w] += src[oh * g.out_w + ow];
            }
          }
        }
      }
    }
  }
}

void CpuBackend::max_pool2d(const Tensor& x, const Window2d& g, const Tensor& out, const Tensor& indices) {
  const float* in = x.data_ptr();
  float* o = out.data_ptr();
  float* ix = indices.data_ptr();
  const int64_t planes = g.n * g.c;
#pragma omp parallel for schedule(static) if (planes * g.h * g.w > kParallelGrain)
  for (int64_t p = 0; p < planes; ++p) {
    const float* src = in + p * g.h * g.w;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        int64_t best_i = -1;
        for (int64_t i = 0; i < g.kh; ++i) {
          const int64_t h = oh * g.stride_h - g.pad_h + i;
          if (h < 0 || h >= g.h) continue;
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t w = ow * g.stride_w - g.pad_w + j;
            if (w < 0 || w >= g.w) continue;
            const float v = src[h * g.w + w];
            if (best_i < 0 || v > best || v != v) {
              best = v;
              best_i = h * g.w + w;
              if (v != v) break;
            }
          }
        }
        const int64_t k = (p * g.out_h + oh) * g.out_w + ow;
        o[k] = best;
        ix[k] = static_cast<float>(best_i);
      }
    }
  }
}

void CpuBackend::max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Window2d& g,
                                     const Tensor& grad_in) {
  const float* go = grad_out.data_ptr();
  const float* ix = indices.data_ptr();
  float* gi = grad_in.data_ptr();
  const int64_t planes = g.n * g.c, per = g.out_h * g.out_w;
#pragma omp parallel for schedule(static) if (planes * per > kParallelGrain)
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t k = 0; k < per; ++k) {
      const int64_t idx = static_cast<int64_t>(ix[p * per + k]);
      if (idx >= 0) gi[p * g.h * g.w + idx] += go[p * per + k];
    }
  }
}

void CpuBackend::avg_pool2d(const Tensor& x, const Window2d& g, const Tensor& out) {
  const float* in = x.data_ptr();
  float* o = out.data_ptr();
  const int64_t planes = g.n * g.c;
  const float inv = 1.0f / static_cast<float>(g.kh * g.kw);
#pragma omp parallel for schedule(static) if (planes * g.h * g.w > kParallelGrain)
  for (int64_t p = 0; p < planes; ++p) {
    const float* src = in + p * g.h * g.w;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        float s = 0.0f;
        for (int64_t i = 0; i < g.kh; ++i) {
          const int64_t h = oh * g.stride_h - g.pad_h + i;
          if (h < 0 || h >= g.h) continue;
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t w = ow * g.stride_w - g.pad_w + j;
            if (w >= 0 && w < g.w) s += src[h * g.w + w];
          }
        }
        o[(p * g.out_h + oh) * g.out_w + ow] = s * inv;
      }
    }
  }
}

void CpuBackend::avg_pool2d_backward(const Tensor& grad_out, const Window2d& g, const Tensor& grad_in) {
  const float* go = grad_out.data_ptr();
  float* gi = grad_in.data_ptr();
  const int64_t planes = g.n * g.c;
  const float inv = 1.0f / static_cast<float>(g.kh * g.kw);
#pragma omp parallel for schedule(static) if (planes * g.h * g.w > kParallelGrain)
  for (int64_t p = 0; p < planes; ++p) {
    float* dst = gi + p * g.h * g.w;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const float v = go[(p * g.out_h + oh) * g.out_w + ow] * inv;
        for (int64_t i = 0; i < g.kh; ++i) {
          const int64_t h = oh * g.stride_h - g.pad_h + i;
          if (h < 0 || h >= g.h) continue;
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t w = ow * g.stride_w - g.pad_w + j;
            if (w >= 0 && w < g.w) dst[h * g.w + w] += v;
          }
        }
      }
    }
  }
}

}  // namespace qtorch::cpu
