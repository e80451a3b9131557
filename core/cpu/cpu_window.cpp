// CPU im2col/col2im for convolution and the pooling kernels, over contiguous NCHW.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "qtorch/core/cpu/cpu_backend.h"
#include "qtorch/core/cpu/parallel.h"
#include "qtorch/core/pool_window.h"

namespace qtorch::cpu {

// col[(c*kh + i)*kw + j, (n*out_h + oh)*out_w + ow] = x[n, c0 + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
void CpuBackend::im2col(const Tensor& x, int64_t x_channels, int64_t c0, const Window2d& g,
                        const Tensor& col) {
  const float* in = x.data_ptr();
  float* out = col.data_ptr();
  const int64_t rows = g.c * g.kh * g.kw, plane = g.out_h * g.out_w, cols = g.n * plane;
  parallel_for(rows, rows * cols > kParallelGrain, [&](int64_t r) {
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
  });
}

void CpuBackend::col2im(const Tensor& col, int64_t x_channels, int64_t c0, const Window2d& g,
                        const Tensor& x_grad) {
  const float* in = col.data_ptr();
  float* out = x_grad.data_ptr();
  const int64_t plane = g.out_h * g.out_w, cols = g.n * plane;
  // Parallel over (n, c): each thread owns whole input planes, so no two write one element.
  parallel_for(g.n * g.c, g.c * g.kh * g.kw * cols > kParallelGrain, [&](int64_t plane_index) {
    const int64_t n = plane_index / g.c, c = plane_index % g.c;
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
  });
}

namespace {
// 2x2 windows of stride 2 without padding, in planes whose positions float32 and int32 hold.
bool two_by_two_windows(const Window2d& g) {
  return g.kh == 2 && g.kw == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h == 0 && g.pad_w == 0 &&
         g.h * g.w < (int64_t{1} << 24);
}

// Output k's top-left position 2 oh w + 2 ow in its plane, for 2x2 windows of stride 2.
std::vector<int32_t> corners_2x2(const Window2d& g) {
  std::vector<int32_t> corner;
  corner.reserve(static_cast<size_t>(g.out_h * g.out_w));
  for (int64_t oh = 0; oh < g.out_h; ++oh)
    for (int64_t ow = 0; ow < g.out_w; ++ow) corner.push_back(static_cast<int32_t>(2 * oh * g.w + 2 * ow));
  return corner;
}

// The common 2x2 window, stride 2, no padding. Every output takes the first maximum of its
// window in (i, j) order: the first of a and b above, the first of c and d below, then the
// first of those two, the order max_pool_window scans (pool_wins). Positions are exact in
// float while a plane has fewer than 2^24 elements.
#if !defined(__AVX512F__)
void max_pool_2x2(const float* src, float* out, float* index, const Window2d& g) {
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    const float* r0 = src + 2 * oh * g.w;
    const float* r1 = r0 + g.w;
    float* orow = out + oh * g.out_w;
    float* irow = index + oh * g.out_w;
    const float row_base = static_cast<float>(2 * oh * g.w), w = static_cast<float>(g.w);
    for (int64_t ow = 0; ow < g.out_w; ++ow) {
      const float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
      const float col = static_cast<float>(2 * ow);
      const bool b_wins = pool_wins(a, b), d_wins = pool_wins(c, d);
      const float top = b_wins ? b : a, bottom = d_wins ? d : c;
      const float top_at = b_wins ? col + 1.0f : col, bottom_at = d_wins ? col + 1.0f + w : col + w;
      const bool bottom_wins = pool_wins(top, bottom);
      orow[ow] = bottom_wins ? bottom : top;
      irow[ow] = row_base + (bottom_wins ? bottom_at : top_at);
    }
  }
}
#else
// pool_wins for 16 lanes: y strictly greater, or y the first NaN.
__mmask16 pool_wins16(__m512 x, __m512 y) {
  return _mm512_cmp_ps_mask(y, x, _CMP_GT_OQ) |
         (_mm512_cmp_ps_mask(y, y, _CMP_UNORD_Q) & _mm512_cmp_ps_mask(x, x, _CMP_ORD_Q));
}

// The 2x2 window's selections (max_pool_2x2 in builds without AVX-512) over 16 outputs of a
// plane at a time, their four corners gathered through corner[k], the position 2 oh w + 2 ow
// of output k's top-left element. Rows of few outputs (LeNet's second pool has 5) leave a
// row-by-row loop no vector to fill; the plane as one run of outputs does. The same
// comparisons as max_pool_2x2, so the same bits.
void max_pool_2x2_gathered(const float* src, float* out, float* index, const Window2d& g,
                           const int32_t* corner) {
  const int64_t outputs = g.out_h * g.out_w;
  const __m512 one = _mm512_set1_ps(1.0f), w = _mm512_set1_ps(static_cast<float>(g.w));
  const __m512 w_plus_one = _mm512_add_ps(w, one), zero = _mm512_setzero_ps();
  for (int64_t k = 0; k < outputs; k += 16) {
    const int64_t left = outputs - k;
    const __mmask16 live = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
    const __m512i at = _mm512_maskz_loadu_epi32(live, corner + k);
    const __m512 a = _mm512_mask_i32gather_ps(zero, live, at, src, 4);
    const __m512 b = _mm512_mask_i32gather_ps(zero, live, at, src + 1, 4);
    const __m512 c = _mm512_mask_i32gather_ps(zero, live, at, src + g.w, 4);
    const __m512 d = _mm512_mask_i32gather_ps(zero, live, at, src + g.w + 1, 4);
    const __mmask16 b_wins = pool_wins16(a, b), d_wins = pool_wins16(c, d);
    const __m512 top = _mm512_mask_blend_ps(b_wins, a, b), bottom = _mm512_mask_blend_ps(d_wins, c, d);
    const __m512 top_at = _mm512_mask_blend_ps(b_wins, zero, one);
    const __m512 bottom_at = _mm512_mask_blend_ps(d_wins, w, w_plus_one);
    const __mmask16 bottom_wins = pool_wins16(top, bottom);
    _mm512_mask_storeu_ps(out + k, live, _mm512_mask_blend_ps(bottom_wins, top, bottom));
    const __m512 offset = _mm512_mask_blend_ps(bottom_wins, top_at, bottom_at);
    _mm512_mask_storeu_ps(index + k, live, _mm512_add_ps(_mm512_maskz_cvtepi32_ps(live, at), offset));
  }
}
#endif

void max_pool_general(const float* src, float* out, float* index, const Window2d& g) {
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    for (int64_t ow = 0; ow < g.out_w; ++ow) {
      float best;
      int64_t best_at;
      max_pool_window(src, g, oh, ow, best, best_at);
      out[oh * g.out_w + ow] = best;
      index[oh * g.out_w + ow] = static_cast<float>(best_at);
    }
  }
}
}  // namespace

void CpuBackend::max_pool2d(const Tensor& x, const Window2d& g, const Tensor& out, const Tensor& indices) {
  const float* in = x.data_ptr();
  float* o = out.data_ptr();
  float* ix = indices.data_ptr();
  const int64_t planes = g.n * g.c, plane_out = g.out_h * g.out_w;
  const bool two_by_two = two_by_two_windows(g);
#if defined(__AVX512F__)
  const std::vector<int32_t> corner = two_by_two ? corners_2x2(g) : std::vector<int32_t>();
#endif
  parallel_for(planes, planes * g.h * g.w > 4 * kParallelGrain, [&](int64_t p) {
    if (two_by_two) {
#if defined(__AVX512F__)
      max_pool_2x2_gathered(in + p * g.h * g.w, o + p * plane_out, ix + p * plane_out, g, corner.data());
#else
      max_pool_2x2(in + p * g.h * g.w, o + p * plane_out, ix + p * plane_out, g);
#endif
    } else {
      max_pool_general(in + p * g.h * g.w, o + p * plane_out, ix + p * plane_out, g);
    }
  });
}

namespace {
// One plane of max pooling's backward: zeroed, then each output's gradient added at the
// position its index names, if its window holds it (pool_window_holds). For 2x2 windows of
// stride 2 without padding (`corner` given): the index is one of the four offsets from the
// window's corner, compared in float (exact below 2^24, no division); the windows do not
// overlap, so each position takes at most one gradient, 0 + g, written 16 at a time.
void max_pool_backward_plane(const float* go, const float* ix, const Window2d& g, const int32_t* corner,
                             float* plane) {
  std::fill(plane, plane + g.h * g.w, 0.0f);
  const int64_t outputs = g.out_h * g.out_w;
  if (corner != nullptr) {
    const float w = static_cast<float>(g.w), w_plus_one = w + 1.0f;
    int64_t k = 0;
#if defined(__AVX512F__)
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f), wv = _mm512_set1_ps(w),
                 wv1 = _mm512_set1_ps(w_plus_one);
    for (; k < outputs; k += 16) {
      const int64_t left = outputs - k;
      const __mmask16 live = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
      const __m512 at = _mm512_maskz_loadu_ps(live, ix + k);
      const __m512 d = _mm512_sub_ps(at, _mm512_maskz_cvtepi32_ps(live, _mm512_maskz_loadu_epi32(live, corner + k)));
      const __mmask16 held = live & (_mm512_cmp_ps_mask(d, zero, _CMP_EQ_OQ) | _mm512_cmp_ps_mask(d, one, _CMP_EQ_OQ) |
                                     _mm512_cmp_ps_mask(d, wv, _CMP_EQ_OQ) | _mm512_cmp_ps_mask(d, wv1, _CMP_EQ_OQ));
      const __m512 value = _mm512_add_ps(zero, _mm512_maskz_loadu_ps(live, go + k));  // 0 + g, as the sum
      _mm512_mask_i32scatter_ps(plane, held, _mm512_maskz_cvttps_epi32(held, at), value, 4);
    }
#endif
    for (; k < outputs; ++k) {
      const float d = ix[k] - static_cast<float>(corner[k]);
      if (d == 0.0f || d == 1.0f || d == w || d == w_plus_one) plane[static_cast<int64_t>(ix[k])] += go[k];
    }
    return;
  }
  for (int64_t oh = 0, k = 0; oh < g.out_h; ++oh)
    for (int64_t ow = 0; ow < g.out_w; ++ow, ++k)
      if (pool_window_holds(g, oh, ow, ix[k])) plane[static_cast<int64_t>(ix[k])] += go[k];
}
}  // namespace

void CpuBackend::max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Window2d& g,
                                     const Tensor& grad_in) {
  const float* go = grad_out.data_ptr();
  const float* ix = indices.data_ptr();
  float* gi = grad_in.data_ptr();
  const int64_t planes = g.n * g.c, per = g.out_h * g.out_w;
  const std::vector<int32_t> corner = two_by_two_windows(g) ? corners_2x2(g) : std::vector<int32_t>();
  // One pass, one parallel region.
  parallel_for(planes, planes * g.h * g.w > kParallelGrain, [&](int64_t p) {
    max_pool_backward_plane(go + p * per, ix + p * per, g, corner.empty() ? nullptr : corner.data(),
                            gi + p * g.h * g.w);
  });
}

void CpuBackend::avg_pool2d(const Tensor& x, const Window2d& g, const Tensor& out) {
  const float* in = x.data_ptr();
  float* o = out.data_ptr();
  const int64_t planes = g.n * g.c;
  const float window_size = static_cast<float>(g.kh * g.kw);
  parallel_for(planes, planes * g.h * g.w > kParallelGrain, [&](int64_t p) {
    const float* src = in + p * g.h * g.w;
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t ow = 0; ow < g.out_w; ++ow)
        o[(p * g.out_h + oh) * g.out_w + ow] = avg_pool_window(src, g, oh, ow, window_size);
  });
}

void CpuBackend::avg_pool2d_backward(const Tensor& grad_out, const Window2d& g, const Tensor& grad_in) {
  const float* go = grad_out.data_ptr();
  float* gi = grad_in.data_ptr();
  const int64_t planes = g.n * g.c;
  const float window_size = static_cast<float>(g.kh * g.kw);
  parallel_for(planes, planes * g.h * g.w > kParallelGrain, [&](int64_t p) {
    float* dst = gi + p * g.h * g.w;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const float v = go[(p * g.out_h + oh) * g.out_w + ow] / window_size;  // as PyTorch divides
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
  });
}

}  // namespace qtorch::cpu
