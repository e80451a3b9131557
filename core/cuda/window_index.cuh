// Window2d in the index type of one launch. The pooling and im2col kernels divide and
// multiply indices per element; int32_t arithmetic costs a fraction of int64_t's (a 64-bit
// division is a subroutine of some 70 instructions), so a launch uses int32_t whenever
// every index it forms fits (fits_int32), and int64_t otherwise.
#pragma once

#include <algorithm>
#include <cstdint>

#include "qtorch/core/backend.h"

namespace qtorch::cuda {

template <class I>
struct WindowIndex {
  I n, c, h, w, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, out_h, out_w;
  explicit WindowIndex(const Window2d& g)
      : n(static_cast<I>(g.n)), c(static_cast<I>(g.c)), h(static_cast<I>(g.h)), w(static_cast<I>(g.w)),
        kh(static_cast<I>(g.kh)), kw(static_cast<I>(g.kw)), stride_h(static_cast<I>(g.stride_h)),
        stride_w(static_cast<I>(g.stride_w)), pad_h(static_cast<I>(g.pad_h)), pad_w(static_cast<I>(g.pad_w)),
        dil_h(static_cast<I>(g.dil_h)), dil_w(static_cast<I>(g.dil_w)), out_h(static_cast<I>(g.out_h)),
        out_w(static_cast<I>(g.out_w)) {}
};

/// Whether a launch whose element indices (and the index products it forms) stay below
/// `largest` may use int32_t: below 2^30, so that adding a grid stride (at most 2^30
/// threads) to an index never overflows.
inline bool fits_int32(int64_t largest) { return largest >= 0 && largest <= (int64_t{1} << 30); }

/// Calls launch(I{}) with I = int32_t when fits_int32(largest), else int64_t.
template <class Launch>
void with_index_type(int64_t largest, Launch launch) {
  if (fits_int32(largest))
    launch(int32_t{});
  else
    launch(int64_t{});
}

/// The largest value a window kernel forms from g's geometry alone: padded extents, strided
/// output positions with their taps, and kh * kw (average pooling's divisor). Element counts
/// alone missed them: a padding of 2^30 with stride 2 summed past int32 in col2im, and a
/// 46341 x 46341 window's divisor came out negative.
inline int64_t window_geometry_extent(const Window2d& g) {
  return std::max({g.h + 2 * g.pad_h, g.w + 2 * g.pad_w, (g.out_h + 1) * g.stride_h + g.pad_h + g.kh * g.dil_h,
                   (g.out_w + 1) * g.stride_w + g.pad_w + g.kw * g.dil_w, g.kh * g.kw});
}

/// with_index_type for a window launch over g whose element indices stay below `largest`.
template <class Launch>
void with_window_index_type(const Window2d& g, int64_t largest, Launch launch) {
  with_index_type(std::max(largest, window_geometry_extent(g)), launch);
}

}  // namespace qtorch::cuda
