// Direct convolution on the GPU (stride 1, one group): no im2col buffer, no permute to NCHW,
// the bias added in the same pass. One thread per output position computes a block of up to
// 16 channels from registers, the block's weights in shared memory.
//
// The forward pass and the input gradient give the bits of the CPU's direct kernels
// (core/cpu/cpu_conv_direct.cpp): each value is accumulated with fmaf from +0 in the same
// order. In the forward pass a tap in the padding multiplies 0, as the CPU's padded image
// and im2col do (an infinite weight gives NaN there, as in PyTorch); the input gradient has
// no product for an output position outside dy (as im2col's and PyTorch's: an infinite
// weight gives inf, not NaN), which for finite weights is the same sum:
//   y[n][o][oh][ow]  = (sum over c, i, j of w[o][c][i][j] * x[n][c][oh - pad_h + i*dil_h][ow - pad_w + j*dil_w])
//                      + bias[o] where there is a bias
//   dx[n][c][h][w]   =  sum over o, i, j of w[o][c][kh-1-i][kw-1-j]
//                      * dy[n][o][h + pad_h - (kh-1-i)*dil_h][w + pad_w - (kw-1-j)*dil_w], over the
//                      (o, i, j) whose dy position lies inside dy
// The weight gradient sums dy[n][o][p] * x[n][c][tap of p] over the positions of a chunk of
// samples in each CUDA block (a fixed tree over its threads), then the chunks in order: the
// same bits on every run and every GPU, since the chunks follow from the shape alone.
//
// Written without warp intrinsics or atomics, so that tests/core/conv_direct_kernels_test.cpp
// runs these kernels on the CPU (tests/support/cuda_emulation.h) against the CPU's kernels.
// Launch: core/cuda/conv_direct.cu.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "qtorch/core/cuda/window_index.cuh"
#include "qtorch/core/hostdevice.h"

namespace qtorch::cuda::conv_direct {

constexpr int kThreads = 256;                  // threads per CUDA block, a power of two
constexpr int kMaxChannelBlock = 16;           // accumulators per thread, forward and dx
constexpr int64_t kMaxSharedFloats = 12288;    // 48 KiB, the default limit of a launch
constexpr int kWeightBlock = 8;                // weight gradient tile: output channels ...
constexpr int kWeightRun = 4;                  // ... x consecutive (c, i, j) taps
constexpr int64_t kWeightBlocksWanted = 1024;  // CUDA blocks the chunks aim for

/// The channel block of a launch over `channels` channels: 1, 2, 4, 8 or 16.
inline int channel_block(int64_t channels) {
  int b = 1;
  while (b < channels && b < kMaxChannelBlock) b *= 2;
  return b;
}

/// Calls f(std::integral_constant<int, B>) for B = channel_block(channels).
template <class F>
void with_channel_block(int64_t channels, F&& f) {
  switch (channel_block(channels)) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 8: return f(std::integral_constant<int, 8>{});
    default: return f(std::integral_constant<int, 16>{});
  }
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// The grid of the forward and input-gradient launches: x over `positions` (one per thread,
/// at most `cap` blocks, the kernels' grid-stride loops doing the rest), y over the blocks of
/// B channels.
inline dim3 position_grid(int64_t positions, int64_t channels, int block, int64_t cap = 65535LL * 32) {
  return dim3(static_cast<unsigned>(std::clamp<int64_t>(ceil_div(positions, kThreads), 1, cap)),
              static_cast<unsigned>(ceil_div(channels, block)));
}

/// Whether the weights one block of `channels` channels reads (`products` per channel) fit
/// in shared memory.
inline bool block_fits(int64_t products, int64_t channels) {
  return products * channel_block(channels) <= kMaxSharedFloats;
}

/// How the weight gradient splits the samples: `chunks` chunks of `samples` samples (the last
/// may hold fewer). A function of the shape alone, so the sums are the same on every GPU.
struct WeightChunks {
  int64_t samples = 1, chunks = 1;
};

inline WeightChunks weight_chunks(int64_t n, int64_t plane, int64_t out_c, int64_t depth) {
  const int64_t tiles = ceil_div(out_c, kWeightBlock) * ceil_div(depth, kWeightRun);
  const int64_t wanted = std::max<int64_t>(1, ceil_div(kWeightBlocksWanted, tiles));
  WeightChunks k;
  // At least a thread's worth of positions per chunk, at most 65535 chunks (grid y).
  k.samples = std::max({ceil_div(n, wanted), ceil_div(kThreads, std::max<int64_t>(plane, 1)),
                        ceil_div(n, 65535)});
  k.samples = std::min(k.samples, std::max<int64_t>(n, 1));
  k.chunks = ceil_div(n, k.samples);
  return k;
}

/// y = conv(x, w) (+ bias). Grid: x over output positions n * out_h * out_w, y over blocks of
/// B output channels starting at blockIdx.y * B. Shared: the block's weights as [depth][B].
template <int B, class I>
__global__ void forward_kernel(const float* __restrict__ x, const float* __restrict__ w,
                               const float* __restrict__ bias, WindowIndex<I> g, I out_c,
                               float* __restrict__ y) {
  QTORCH_EXTERN_SHARED float conv_shared[];
  const I depth = g.c * g.kh * g.kw, o0 = static_cast<I>(blockIdx.y) * B;
  for (I e = threadIdx.x; e < depth * B; e += blockDim.x) {
    const I o = o0 + e % B;
    conv_shared[e] = o < out_c ? w[o * depth + e / B] : 0.0f;
  }
  __syncthreads();
  const I plane = g.out_h * g.out_w, total = g.n * plane, in_plane = g.h * g.w;
  for (I pos = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; pos < total;
       pos += static_cast<I>(gridDim.x) * blockDim.x) {
    const I n = pos / plane, p = pos - n * plane, oh = p / g.out_w, ow = p - oh * g.out_w;
    float acc[B];
    for (int o = 0; o < B; ++o) acc[o] = 0.0f;
    const float* wd = conv_shared;
    for (I c = 0; c < g.c; ++c) {
      const float* xc = x + (n * g.c + c) * in_plane;
      for (I i = 0; i < g.kh; ++i) {
        const I h = oh - g.pad_h + i * g.dil_h;
        const bool row_inside = h >= 0 && h < g.h;
        for (I j = 0; j < g.kw; ++j, wd += B) {
          const I col = ow - g.pad_w + j * g.dil_w;
          const float v = row_inside && col >= 0 && col < g.w ? xc[h * g.w + col] : 0.0f;
          for (int o = 0; o < B; ++o) acc[o] = fmaf(wd[o], v, acc[o]);
        }
      }
    }
    for (int o = 0; o < B; ++o) {
      const I oc = o0 + o;
      if (oc < out_c) y[(n * out_c + oc) * plane + p] = bias != nullptr ? acc[o] + bias[oc] : acc[o];
    }
  }
}

/// dx from dy. Grid: x over input positions n * h * w, y over blocks of B input channels.
/// Shared: the block's kernel flipped, [o][kh*kw][B].
template <int B, class I>
__global__ void backward_input_kernel(const float* __restrict__ dy, const float* __restrict__ w,
                                      WindowIndex<I> g, I out_c, float* __restrict__ dx) {
  QTORCH_EXTERN_SHARED float conv_shared[];
  const I taps = g.kh * g.kw, c0 = static_cast<I>(blockIdx.y) * B;
  for (I e = threadIdx.x; e < out_c * taps * B; e += blockDim.x) {
    const I c = c0 + e % B, q = e / B % taps, o = e / (B * taps);
    conv_shared[e] = c < g.c ? w[(o * g.c + c) * taps + (taps - 1 - q)] : 0.0f;
  }
  __syncthreads();
  const I in_plane = g.h * g.w, total = g.n * in_plane, plane = g.out_h * g.out_w;
  for (I pos = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; pos < total;
       pos += static_cast<I>(gridDim.x) * blockDim.x) {
    const I n = pos / in_plane, p = pos - n * in_plane, h = p / g.w, wc = p - h * g.w;
    float acc[B];
    for (int c = 0; c < B; ++c) acc[c] = 0.0f;
    const float* wd = conv_shared;
    for (I o = 0; o < out_c; ++o) {
      const float* dyo = dy + (n * out_c + o) * plane;
      for (I i = 0; i < g.kh; ++i) {
        const I oh = h + g.pad_h - (g.kh - 1 - i) * g.dil_h;
        const bool row_inside = oh >= 0 && oh < g.out_h;
        for (I j = 0; j < g.kw; ++j, wd += B) {
          const I ow = wc + g.pad_w - (g.kw - 1 - j) * g.dil_w;
          if (!row_inside || ow < 0 || ow >= g.out_w) continue;  // no product (w * 0 is NaN for w = inf)
          const float v = dyo[oh * g.out_w + ow];
          for (int c = 0; c < B; ++c) acc[c] = fmaf(wd[c], v, acc[c]);
        }
      }
    }
    for (int c = 0; c < B; ++c) {
      const I ch = c0 + c;
      if (ch < g.c) dx[(n * g.c + ch) * in_plane + p] = acc[c];
    }
  }
}

/// The weight gradient of one chunk of samples (blockIdx.y) for a tile of kWeightBlock output
/// channels x kWeightRun taps (blockIdx.x: the tile's channel block, then its run of taps):
/// partial[chunk][o][d], d = (c * kh + i) * kw + j. Each thread sums the positions
/// threadIdx.x, + kThreads, ... of the chunk; the threads' sums are then added by a fixed tree
/// in shared memory ([kWeightBlock * kWeightRun][kThreads]). blockDim.x must be kThreads.
template <class I>
__global__ void weight_partial_kernel(const float* __restrict__ dy, const float* __restrict__ x,
                                      WindowIndex<I> g, I out_c, I chunk_samples,
                                      float* __restrict__ partial) {
  QTORCH_EXTERN_SHARED float conv_shared[];
  constexpr int B = kWeightBlock, R = kWeightRun;
  const I taps = g.kh * g.kw, depth = g.c * taps;
  const I runs = (depth + R - 1) / R;
  const I o0 = static_cast<I>(blockIdx.x) / runs * B, d0 = static_cast<I>(blockIdx.x) % runs * R;
  I channel[R], dh[R], dw[R];
  bool live[R];
  for (int r = 0; r < R; ++r) {
    const I d = d0 + r, q = d % taps;
    live[r] = d < depth;
    channel[r] = d / taps;
    dh[r] = q / g.kw * g.dil_h - g.pad_h;
    dw[r] = q % g.kw * g.dil_w - g.pad_w;
  }
  float acc[B][R];
  for (int o = 0; o < B; ++o)
    for (int r = 0; r < R; ++r) acc[o][r] = 0.0f;
  const I plane = g.out_h * g.out_w, in_plane = g.h * g.w;
  const I n0 = static_cast<I>(blockIdx.y) * chunk_samples;
  const I n1 = n0 + chunk_samples < g.n ? n0 + chunk_samples : g.n;
  const I count = (n1 - n0) * plane;
  for (I e = threadIdx.x; e < count; e += blockDim.x) {
    const I n = n0 + e / plane, p = e % plane, oh = p / g.out_w, ow = p - oh * g.out_w;
    float gy[B];
    for (int o = 0; o < B; ++o) gy[o] = o0 + o < out_c ? dy[(n * out_c + o0 + o) * plane + p] : 0.0f;
    for (int r = 0; r < R; ++r) {
      const I h = oh + dh[r], col = ow + dw[r];
      const float v = live[r] && h >= 0 && h < g.h && col >= 0 && col < g.w
                          ? x[(n * g.c + channel[r]) * in_plane + h * g.w + col]
                          : 0.0f;
      for (int o = 0; o < B; ++o) acc[o][r] = fmaf(gy[o], v, acc[o][r]);
    }
  }
  const int t = static_cast<int>(threadIdx.x);
  for (int k = 0; k < B * R; ++k) conv_shared[k * kThreads + t] = acc[k / R][k % R];
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (t < s)
      for (int k = 0; k < B * R; ++k) conv_shared[k * kThreads + t] += conv_shared[k * kThreads + t + s];
    __syncthreads();
  }
  if (t < B * R) {
    const I o = o0 + t / R, d = d0 + t % R;
    if (o < out_c && d < depth)
      partial[(static_cast<I>(blockIdx.y) * out_c + o) * depth + d] = conv_shared[t * kThreads];
  }
}

/// The weight gradient's first launch: x over the tiles (output channel blocks x runs of
/// taps), y over the chunks; its shared memory holds one float per thread and tile weight.
inline dim3 weight_grid(int64_t out_c, int64_t depth, const WeightChunks& k) {
  return dim3(static_cast<unsigned>(ceil_div(out_c, kWeightBlock) * ceil_div(depth, kWeightRun)),
              static_cast<unsigned>(k.chunks));
}
constexpr size_t kWeightShared = sizeof(float) * kWeightBlock * kWeightRun * kThreads;

/// dw[e] = partial[0][e] + partial[1][e] + ... in chunk order; one thread per weight.
template <class I>
__global__ void weight_sum_kernel(const float* __restrict__ partial, I chunks, I weights,
                                  float* __restrict__ dw) {
  for (I e = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; e < weights;
       e += static_cast<I>(gridDim.x) * blockDim.x) {
    float s = partial[e];
    for (I k = 1; k < chunks; ++k) s += partial[k * weights + e];
    dw[e] = s;
  }
}

// ---- the passes, run with launch(kernel, grid, threads, args...) (cuda::QueuedLaunch in
// the library) on contiguous arrays: x [N, C, H, W], w [O, C, kh, kw], y and dy
// [N, O, out_h, out_w] ----

/// Elements of the largest array a pass indexes: int32_t indices below 2^30.
inline int64_t largest_of(const Window2d& g, int64_t out_c) {
  return std::max({g.n * g.c * g.h * g.w, out_c * g.c * g.kh * g.kw, g.n * out_c * g.out_h * g.out_w});
}

/// y = conv(x, w) (+ bias, where not null).
template <class Launch>
void run_forward(const float* x, const float* w, const float* bias, const Window2d& g, int64_t out_c, float* y,
                 Launch launch) {
  with_channel_block(out_c, [&](auto block) {
    constexpr int B = decltype(block)::value;
    const auto shared = launch.with_shared(static_cast<size_t>(g.c * g.kh * g.kw * B) * sizeof(float));
    with_window_index_type(g, largest_of(g, out_c), [&](auto zero) {
      using I = decltype(zero);
      shared(forward_kernel<B, I>, position_grid(g.n * g.out_h * g.out_w, out_c, B), dim3(kThreads), x, w, bias,
             WindowIndex<I>(g), static_cast<I>(out_c), y);
    });
  });
}

/// dx (overwritten) from dy.
template <class Launch>
void run_backward_input(const float* dy, const float* w, const Window2d& g, int64_t out_c, float* dx, Launch launch) {
  with_channel_block(g.c, [&](auto block) {
    constexpr int B = decltype(block)::value;
    const auto shared = launch.with_shared(static_cast<size_t>(out_c * g.kh * g.kw * B) * sizeof(float));
    with_window_index_type(g, largest_of(g, out_c), [&](auto zero) {
      using I = decltype(zero);
      shared(backward_input_kernel<B, I>, position_grid(g.n * g.h * g.w, g.c, B), dim3(kThreads), dy, w,
             WindowIndex<I>(g), static_cast<I>(out_c), dx);
    });
  });
}

/// dw (overwritten) from dy and x; `partial` holds weight_chunks(...).chunks * out_c * C*kh*kw
/// floats of scratch.
template <class Launch>
void run_backward_weight(const float* dy, const float* x, const Window2d& g, int64_t out_c, float* partial, float* dw,
                         Launch launch) {
  const int64_t depth = g.c * g.kh * g.kw, weights = out_c * depth;
  const WeightChunks chunks = weight_chunks(g.n, g.out_h * g.out_w, out_c, depth);
  with_window_index_type(g, std::max(largest_of(g, out_c), chunks.chunks * weights), [&](auto zero) {
    using I = decltype(zero);
    launch.with_shared(kWeightShared)(weight_partial_kernel<I>, weight_grid(out_c, depth, chunks), dim3(kThreads), dy,
                                      x, WindowIndex<I>(g), static_cast<I>(out_c), static_cast<I>(chunks.samples),
                                      partial);
    launch(weight_sum_kernel<I>, dim3(static_cast<unsigned>(std::clamp<int64_t>(ceil_div(weights, kThreads), 1, 65535))),
           dim3(kThreads), static_cast<const float*>(partial), static_cast<I>(chunks.chunks), static_cast<I>(weights),
           dw);
  });
}

}  // namespace qtorch::cuda::conv_direct
