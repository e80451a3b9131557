// One pooling window's output, written once for every device: the CPU backend's pooling
// (core/cpu/cpu_window.cpp) and the CUDA kernels (core/cuda/window_kernels.cuh) call these.
// G is Window2d (int64_t fields) on the CPU, cuda::WindowIndex<I> (int32_t or int64_t) on the
// GPU; the window of output (oh, ow) covers rows oh*stride_h - pad_h + i and columns
// ow*stride_w - pad_w + j of one plane of g.h x g.w elements. As in PyTorch, pooling windows
// ignore dilation, and padding never wins a maximum.
#pragma once

#include <cmath>

#include "qtorch/core/hostdevice.h"

namespace qtorch {

/// y, met later in the window's (i, j) order, beats x when strictly greater, or when it is
/// the first NaN: the first maximum wins, and NaN propagates.
QTORCH_HD bool pool_wins(float x, float y) { return y > x || (y != y && x == x); }

/// The maximum over output (oh, ow)'s window of plane and its position h * g.w + w in the
/// plane (-1, with best -inf, for a window wholly in the padding).
template <class G, class I>
QTORCH_HD void max_pool_window(const float* plane, const G& g, I oh, I ow, float& best, I& best_at) {
  best = -INFINITY;
  best_at = -1;
  for (I i = 0; i < g.kh; ++i) {
    const I h = oh * g.stride_h - g.pad_h + i;
    if (h < 0 || h >= g.h) continue;
    for (I j = 0; j < g.kw; ++j) {
      const I w = ow * g.stride_w - g.pad_w + j;
      if (w < 0 || w >= g.w) continue;
      const float v = plane[h * g.w + w];
      if (best_at < 0 || pool_wins(best, v)) {
        best = v;
        best_at = h * g.w + w;
      }
    }
  }
}

/// Whether `at` names a position of output (oh, ow)'s window in its plane: a whole number
/// h * g.w + w with h and w inside the window and the plane. Max pooling's backward sends an
/// output's gradient there, and nowhere for any other value (-1 for a window wholly in the
/// padding, or indices that did not come from the forward pass).
template <class G, class I>
QTORCH_HD bool pool_window_holds(const G& g, I oh, I ow, float at) {
  if (!(at >= 0.0f && static_cast<double>(at) < static_cast<double>(g.h * g.w) && at == floorf(at))) return false;
  const I p = static_cast<I>(at), h = p / g.w, w = p % g.w;
  const I h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
  return h >= h0 && h < h0 + g.kh && w >= w0 && w < w0 + g.kw;
}

/// The mean over output (oh, ow)'s window of plane, padding counted as zeros
/// (count_include_pad): the sum in (i, j) order divided by kh * kw (as PyTorch divides; a
/// product with 1 / (kh * kw) differs in the last bit for windows that are not a power of 2).
template <class G, class I>
QTORCH_HD float avg_pool_window(const float* plane, const G& g, I oh, I ow, float window_size) {
  float sum = 0.0f;
  for (I i = 0; i < g.kh; ++i) {
    const I h = oh * g.stride_h - g.pad_h + i;
    if (h < 0 || h >= g.h) continue;
    for (I j = 0; j < g.kw; ++j) {
      const I w = ow * g.stride_w - g.pad_w + j;
      if (w >= 0 && w < g.w) sum += plane[h * g.w + w];
    }
  }
  return sum / window_size;
}

}  // namespace qtorch
