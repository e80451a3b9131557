// Direct convolution on the CPU (stride 1, one group): no im2col buffer, for the small channel
// counts of small CNNs (LeNet's 1->6 and 6->16 5x5), where im2col + GEMM spends more time moving
// patches than multiplying. One sample at a time is copied into a zero-padded image whose rows
// keep their padding; an output row is then computed over the padded width too ("wide" rows, the
// extra columns discarded), so every kernel tap reads one contiguous run of the padded image:
//   out[o][t] = sum over c, i, j of w[o][c][i][j] * padded[c][t + i*dil_h*W' + j*dil_w],
// with t = row * W' + column. Register tiles of up to 8 output channels x 32 positions
// accumulate in the order c, i, j, by fused multiply-adds from +0 (the GPU's direct kernels
// add in the same order and give the same bits). The input gradient is the same correlation of the padded
// output gradient with the flipped, transposed kernel; the weight gradient a dot product per
// tap and output channel over the wide positions (tiles of 4 channels x 5 taps): 16 partial sums,
// one per position modulo 16, each added in position order over a fixed chunk of 8 samples, the
// 16 then added in a fixed tree (sum_of_16) and the chunks in order. Samples (chunks) are split
// among threads, and the 16 partial sums do not follow the vector width (4, 8 or 16 floats), so
// the bits depend neither on the thread count nor on the build (portable, AVX2, AVX-512). A
// sample whose input holds an infinity or a NaN is summed over its real positions only
// (weight_sample_exact): a wide column's zero gradient times an infinity is NaN; likewise
// the input gradient of weights holding one (input_gradient_exact), where the padding's zeros
// would meet it.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "qtorch/core/cpu/cpu_backend.h"
#include "qtorch/core/cpu/parallel.h"
#include "qtorch/core/tensor.h"

namespace qtorch::cpu {
namespace {

using V = xsimd::batch<float>;
constexpr int64_t kLanes = static_cast<int64_t>(V::size);
constexpr int64_t kTile = 2 * kLanes;  // positions per register tile
constexpr int kMaxBlock = 8;           // output channels per register tile
constexpr int64_t kChunk = 8;          // samples per partial weight gradient
constexpr int kWeightBlock = 4;        // weight gradient: output channels x taps per register tile
constexpr int kWeightTaps = 5;
constexpr int64_t kSumLanes = 16;      // weight gradient: partial sums per tap, whatever kLanes is
static_assert(kSumLanes % kLanes == 0, "the vector width must divide the weight gradient's 16 sums");

int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

// a * b + c with one rounding, in every build. xsimd 8 has no AVX-512 FMA and computes
// a * b + c there, which only the compiler's contraction (at -O2 and above) fused: an -O1
// build summed with two roundings per product and gave other bits than -O3 (and than the
// GPU's fmaf, core/cuda/conv_direct_kernels.cuh).
template <class B>  // a template, so that only the branch of B's width is compiled
B fused_multiply_add(B a, B b, B c) {
#if defined(__AVX512F__)
  if constexpr (B::size == 16) return B(_mm512_fmadd_ps(a, b, c));
#endif
#if defined(__FMA__)
  if constexpr (B::size == 8) return B(_mm256_fmadd_ps(a, b, c));
  if constexpr (B::size == 4) return B(_mm_fmadd_ps(a, b, c));
#endif
  alignas(64) float x[B::size], y[B::size], z[B::size];  // no FMA instruction: lane by lane
  a.store_aligned(x);
  b.store_aligned(y);
  c.store_aligned(z);
  for (size_t i = 0; i < B::size; ++i) x[i] = std::fma(x[i], y[i], z[i]);
  return B::load_aligned(x);
}

// The kernels' fused multiply-add, as a policy: the build's own (above), or, in a build
// without FMA instructions (the portable build, 4 floats per vector) running on a CPU that
// has them, the instruction itself, chosen at run time (has_fma_instruction). Both round once,
// so both give the same bits; lane by lane std::fma made the portable build's LeNet about 30
// times slower.
struct BuildFma {
  template <class B>
  static B fma(B a, B b, B c) {
    return fused_multiply_add(a, b, c);
  }
};

#if (defined(__x86_64__) || defined(__i386__)) && !defined(__FMA__)
#define QTORCH_CONV_FMA_AT_RUN_TIME 1
__attribute__((target("fma"))) inline __m128 fma_instruction(__m128 a, __m128 b, __m128 c) {
  return _mm_fmadd_ps(a, b, c);
}
struct InstructionFma {
  template <class B>
  static B fma(B a, B b, B c) {
    static_assert(B::size == 4, "the run-time FMA path is the portable build's, 4 floats per vector");
    return B(fma_instruction(a, b, c));
  }
};
bool has_fma_instruction() {
  static const bool has = __builtin_cpu_supports("fma");
  return has;
}
#endif

// A zero-padded image: `ch` planes of `rows` x `w` floats; kernel tap q reads at offset[q].
struct Padded {
  int64_t ch = 0, rows = 0, w = 0;
  int64_t plane() const { return rows * w; }
};

// Offsets of the kh*kw taps in a padded image of row width w.
std::vector<int64_t> tap_offsets(const Window2d& g, int64_t w) {
  std::vector<int64_t> off(static_cast<size_t>(g.kh * g.kw));
  for (int64_t i = 0; i < g.kh; ++i)
    for (int64_t j = 0; j < g.kw; ++j) off[static_cast<size_t>(i * g.kw + j)] = i * g.dil_h * w + j * g.dil_w;
  return off;
}

// out[o][t] for B output channels, t in [0, len), len a multiple of kTile; wt holds the B rows
// of the kernel, each in.ch * taps long.
template <class Fma, int B>
void correlate_block(const float* in, const Padded& p, const int64_t* off, int64_t taps, const float* wt,
                     float* out, int64_t len) {
  const int64_t depth = p.ch * taps;
  for (int64_t t = 0; t < len; t += kTile) {
    V acc0[B], acc1[B];
    for (int o = 0; o < B; ++o) acc0[o] = acc1[o] = V(0.0f);
    for (int64_t c = 0; c < p.ch; ++c) {
      const float* src = in + c * p.plane() + t;
      const float* wc = wt + c * taps;
      for (int64_t q = 0; q < taps; ++q) {
        const V x0 = V::load_unaligned(src + off[q]), x1 = V::load_unaligned(src + off[q] + kLanes);
        for (int o = 0; o < B; ++o) {
          const V w(wc[o * depth + q]);
          acc0[o] = Fma::fma(w, x0, acc0[o]);
          acc1[o] = Fma::fma(w, x1, acc1[o]);
        }
      }
    }
    for (int o = 0; o < B; ++o) {
      acc0[o].store_unaligned(out + o * len + t);
      acc1[o].store_unaligned(out + o * len + t + kLanes);
    }
  }
}

// Partial weight gradients of R consecutive taps d0.. (tap d = c * taps + q reads in + at[d])
// for B output channels, for the kLanes sums first.. of the kSumLanes: part[o][d][l] +=
// dy[o][t] * in[at[d] + t] over t < len with t = l modulo kSumLanes, in the order of t (len a
// multiple of kSumLanes); part holds kSumLanes floats per (o, d), rows depth apart.
template <class Fma, int B, int R>
void weight_tile(const float* in, const int64_t* at, int64_t d0, const float* dy, int64_t len, int64_t first,
                 float* part, int64_t depth) {
  V acc[B][R];
  for (int o = 0; o < B; ++o)
    for (int r = 0; r < R; ++r) acc[o][r] = V(0.0f);
  for (int64_t t = first; t < len; t += kSumLanes) {
    V x[R];
    for (int r = 0; r < R; ++r) x[r] = V::load_unaligned(in + at[d0 + r] + t);
    for (int o = 0; o < B; ++o) {
      const V g = V::load_unaligned(dy + o * len + t);
      for (int r = 0; r < R; ++r) acc[o][r] = Fma::fma(g, x[r], acc[o][r]);
    }
  }
  for (int o = 0; o < B; ++o)
    for (int r = 0; r < R; ++r) {
      float* dst = part + (o * depth + d0 + r) * kSumLanes + first;
      (V::load_unaligned(dst) + acc[o][r]).store_unaligned(dst);
    }
}

// The partial weight gradients of one sample whose input holds an infinity or a NaN, over the
// output's own positions only: the wide rows' extra columns multiply a zero output gradient by
// the input there, which is exact for a finite input but NaN for an infinite one, where the
// gradient (as im2col's and PyTorch's) has no such product. Same order as weight_tile's lanes.
void weight_sample_exact(const float* in, const int64_t* at, int64_t depth, const float* dy, int64_t out_ch,
                         int64_t len, int64_t out_h, int64_t out_w, int64_t row, float* part) {
  for (int64_t o = 0; o < out_ch; ++o)
    for (int64_t d = 0; d < depth; ++d) {
      float chain[kSumLanes] = {};
      for (int64_t r = 0; r < out_h; ++r)
        for (int64_t col = 0; col < out_w; ++col) {
          const int64_t t = r * row + col;
          float& s = chain[t % kSumLanes];
          s = std::fma(dy[o * len + t], in[at[d] + t], s);
        }
      float* dst = part + (o * depth + d) * kSumLanes;
      for (int64_t l = 0; l < kSumLanes; ++l) dst[l] += chain[l];
    }
}

// The input gradient of one sample (dy: its [out_ch][out_h][out_w], dx: its [c][h][w]) over
// the products of real output positions only, for weights that hold an infinity or a NaN:
// the padded output gradient's zeros times an infinite weight are NaN, where the gradient (as
// im2col's and PyTorch's) has no such product. Same order as the correlation: o, then the
// flipped kernel's taps.
void input_gradient_exact(const float* dy, const float* w, const Window2d& g, int64_t out_ch, float* dx) {
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t h = 0; h < g.h; ++h)
      for (int64_t col = 0; col < g.w; ++col) {
        float acc = 0.0f;
        for (int64_t o = 0; o < out_ch; ++o)
          for (int64_t i = 0; i < g.kh; ++i) {
            const int64_t oh = h + g.pad_h - (g.kh - 1 - i) * g.dil_h;
            if (oh < 0 || oh >= g.out_h) continue;
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t ow = col + g.pad_w - (g.kw - 1 - j) * g.dil_w;
              if (ow < 0 || ow >= g.out_w) continue;
              const float wt = w[((o * g.c + c) * g.kh + (g.kh - 1 - i)) * g.kw + (g.kw - 1 - j)];
              acc = std::fma(wt, dy[(o * g.out_h + oh) * g.out_w + ow], acc);
            }
          }
        dx[(c * g.h + h) * g.w + col] = acc;
      }
}

bool all_finite(const float* x, int64_t n) {
  bool finite = true;
  for (int64_t i = 0; i < n; ++i) finite &= std::isfinite(x[i]);
  return finite;
}

// x[0] + ... + x[15] in a fixed order: halves added lane by lane twice (x[k] + x[k + 8], then
// + the sum 4 further), then the four sums in pairs (the order of xsimd's AVX-512 hadd, so the
// AVX-512 build kept its bits when the order was fixed).
float sum_of_16(const float* x) {
  float a[8], b[4];
  for (int k = 0; k < 8; ++k) a[k] = x[k] + x[k + 8];
  for (int k = 0; k < 4; ++k) b[k] = a[k] + a[k + 4];
  return (b[0] + b[1]) + (b[2] + b[3]);
}
static_assert(kSumLanes == 16, "sum_of_16 adds the weight gradient's partial sums");

// Calls f(std::integral_constant<int, k>) for the run-time k in [1, Max].
template <int Max, class F>
void with_constant(int k, F&& f) {
  if constexpr (Max > 1) {
    if (k < Max) return with_constant<Max - 1>(k, std::forward<F>(f));
  }
  f(std::integral_constant<int, Max>{});
}

// out[o][t] = correlation of the padded image with kernel rows wt [out_ch][p.ch * taps].
template <class Fma>
void correlate_with(const float* in, const Padded& p, const int64_t* off, int64_t taps, const float* wt,
                    int64_t out_ch, float* out, int64_t len) {
  const int64_t depth = p.ch * taps;
  for (int64_t o0 = 0; o0 < out_ch; o0 += kMaxBlock) {
    const int b = static_cast<int>(std::min<int64_t>(kMaxBlock, out_ch - o0));
    with_constant<kMaxBlock>(b, [&](auto block) {
      correlate_block<Fma, block.value>(in, p, off, taps, wt + o0 * depth, out + o0 * len, len);
    });
  }
}

// The partial weight gradients of one sample (its padded image `in`, its output gradient on
// the wide rows `dy`) added to part, tile by tile.
template <class Fma>
void weight_sample_with(const float* in, const int64_t* at, int64_t depth, const float* dy, int64_t out_ch,
                        int64_t len, float* part) {
  for (int64_t o0 = 0; o0 < out_ch; o0 += kWeightBlock) {
    const int b = static_cast<int>(std::min<int64_t>(kWeightBlock, out_ch - o0));
    for (int64_t d0 = 0; d0 < depth; d0 += kWeightTaps) {
      const int r = static_cast<int>(std::min<int64_t>(kWeightTaps, depth - d0));
      with_constant<kWeightBlock>(b, [&](auto block) {
        with_constant<kWeightTaps>(r, [&](auto run) {
          for (int64_t first = 0; first < kSumLanes; first += kLanes)
            weight_tile<Fma, block.value, run.value>(in, at, d0, dy + o0 * len, len, first, part + o0 * depth * kSumLanes,
                                                     depth);
        });
      });
    }
  }
}

#ifdef QTORCH_CONV_FMA_AT_RUN_TIME
// The kernels compiled for the FMA instruction: flatten inlines every call into these two
// functions, so only their own code uses it, and only after has_fma_instruction().
__attribute__((target("fma"), flatten)) void correlate_fma(const float* in, const Padded& p, const int64_t* off,
                                                          int64_t taps, const float* wt, int64_t out_ch, float* out,
                                                          int64_t len) {
  correlate_with<InstructionFma>(in, p, off, taps, wt, out_ch, out, len);
}
__attribute__((target("fma"), flatten)) void weight_sample_fma(const float* in, const int64_t* at, int64_t depth,
                                                              const float* dy, int64_t out_ch, int64_t len,
                                                              float* part) {
  weight_sample_with<InstructionFma>(in, at, depth, dy, out_ch, len, part);
}
#endif

void correlate(const float* in, const Padded& p, const std::vector<int64_t>& off, const float* wt, int64_t out_ch,
               float* out, int64_t len) {
  const int64_t taps = static_cast<int64_t>(off.size());
#ifdef QTORCH_CONV_FMA_AT_RUN_TIME
  if (has_fma_instruction()) return correlate_fma(in, p, off.data(), taps, wt, out_ch, out, len);
#endif
  correlate_with<BuildFma>(in, p, off.data(), taps, wt, out_ch, out, len);
}

void weight_sample(const float* in, const int64_t* at, int64_t depth, const float* dy, int64_t out_ch, int64_t len,
                   float* part) {
#ifdef QTORCH_CONV_FMA_AT_RUN_TIME
  if (has_fma_instruction()) return weight_sample_fma(in, at, depth, dy, out_ch, len, part);
#endif
  weight_sample_with<BuildFma>(in, at, depth, dy, out_ch, len, part);
}

// Copies `ch` planes of rows x cols floats into a padded image at (top, left); the rest of
// the image keeps what it had (zeros, written once).
// n floats from src to dst. Rows here are short (LeNet's are 10-28 floats): inline vector
// copies, where a memcpy call per row cost 4-5% of a LeNet step.
inline void copy_row(const float* src, int64_t n, float* dst) {
#if defined(__AVX512F__)
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) _mm512_storeu_ps(dst + k, _mm512_loadu_ps(src + k));
  if (k < n) {
    const __mmask16 rest = static_cast<__mmask16>((1u << (n - k)) - 1u);
    _mm512_mask_storeu_ps(dst + k, rest, _mm512_maskz_loadu_ps(rest, src + k));
  }
#else
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
#endif
}

void pad_into(const float* src, int64_t ch, int64_t rows, int64_t cols, const Padded& p, int64_t top,
              int64_t left, float* dst) {
  for (int64_t c = 0; c < ch; ++c)
    for (int64_t r = 0; r < rows; ++r)
      copy_row(src + (c * rows + r) * cols, cols, dst + c * p.plane() + (r + top) * p.w + left);
}

// Per-thread scratch from the tensor allocator (its cache serves every call after the first).
struct Scratch {
  Tensor buffer;
  int64_t per_thread = 0;
  Scratch(int64_t floats, int threads)
      : buffer(zeros({static_cast<int64_t>(threads), floats})), per_thread(floats) {}
  float* of(int thread) const { return buffer.data_ptr() + thread * per_thread; }
};

bool parallel(int64_t work) { return work > kParallelGrain; }

}  // namespace

bool CpuBackend::conv2d_direct_supported(const Window2d& g, int64_t /*out_channels*/) const {
  return g.stride_h == 1 && g.stride_w == 1;
}

std::string CpuBackend::conv2d_direct_requirement() const { return "stride 1"; }

// Measured with bench/conv_bench (forward and both gradients, batch 128, 2 threads; shares of
// im2col + GEMM's speed): direct wins 2.3x at LeNet's 1->6 5x5 28x28, 1.7x at its 6->16 5x5
// 10x10 outputs, 1.6-2.8x for 3x3 kernels over 16x16 and 32x32 outputs with 3 to 32 input
// channels, 1.3x for 64->64 3x3 over 16x16, but loses (0.87-0.90) with 32 and 64 channels
// over 8x8 outputs, where the padded
// rows waste half the work. Beyond 64 channels there are no measurements: im2col.
bool CpuBackend::conv2d_direct_preferred(const Window2d& g, int64_t out_channels) const {
  const int64_t depth = g.c * g.kh * g.kw;
  return conv2d_direct_supported(g, out_channels) && depth <= 576 && out_channels <= 64 &&
         (g.out_h * g.out_w >= 100 || depth <= 150);
}

void CpuBackend::conv2d_direct(const Tensor& x, const Tensor& weight, const Tensor& bias, const Window2d& g,
                               const Tensor& y) {
  const int64_t out_ch = weight.size(0);
  const Padded p{g.c, g.h + 2 * g.pad_h, g.w + 2 * g.pad_w};
  const std::vector<int64_t> off = tap_offsets(g, p.w);
  const int64_t len = round_up(g.out_h * p.w, kTile);
  const int64_t image = (p.ch - 1) * p.plane() + len + off.back();  // the last tap's reach
  const int threads = omp_get_max_threads();
  const Scratch scratch(image + out_ch * len, threads);
  const float* xs = x.data_ptr();
  const float* ws = weight.data_ptr();
  const float* bs = bias.defined() ? bias.data_ptr() : nullptr;
  float* ys = y.data_ptr();
  const int64_t out_plane = g.out_h * g.out_w;
  parallel_for(g.n, parallel(g.n * out_ch * out_plane * g.c * g.kh * g.kw), [&](int64_t n) {
    float* padded = scratch.of(omp_get_thread_num());
    float* wide = padded + image;
    pad_into(xs + n * g.c * g.h * g.w, g.c, g.h, g.w, p, g.pad_h, g.pad_w, padded);
    correlate(padded, p, off, ws, out_ch, wide, len);
    for (int64_t o = 0; o < out_ch; ++o) {
      float* dst = ys + (n * out_ch + o) * out_plane;
      const float b = bs != nullptr ? bs[o] : 0.0f;
      for (int64_t r = 0; r < g.out_h; ++r) {
        const float* src = wide + o * len + r * p.w;
        if (bs != nullptr) {
          for (int64_t col = 0; col < g.out_w; ++col) dst[r * g.out_w + col] = src[col] + b;
        } else {
          std::memcpy(dst + r * g.out_w, src, static_cast<size_t>(g.out_w) * sizeof(float));
        }
      }
    }
  });
}

void CpuBackend::conv2d_direct_backward_input(const Tensor& grad_out, const Tensor& weight, const Window2d& g,
                                              const Tensor& grad_in) {
  const int64_t out_ch = weight.size(0), taps = g.kh * g.kw;
  // The output gradient padded by the kernel's reach on every side; the result is the gradient
  // of the padded input, of rows h + 2 pad_h, computed over the wider rows of this image.
  const int64_t reach_h = (g.kh - 1) * g.dil_h, reach_w = (g.kw - 1) * g.dil_w;
  const Padded p{out_ch, g.out_h + 2 * reach_h, g.out_w + 2 * reach_w};
  const std::vector<int64_t> off = tap_offsets(g, p.w);
  const int64_t rows = g.h + 2 * g.pad_h;
  const int64_t len = round_up(rows * p.w, kTile);
  const int64_t image = (p.ch - 1) * p.plane() + len + off.back();
  // Kernel flipped in both axes with input and output channels swapped: [C][O][kh][kw].
  std::vector<float> flipped(static_cast<size_t>(g.c * out_ch * taps));
  const float* ws = weight.data_ptr();
  for (int64_t o = 0; o < out_ch; ++o)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t q = 0; q < taps; ++q)
        flipped[static_cast<size_t>((c * out_ch + o) * taps + (taps - 1 - q))] = ws[(o * g.c + c) * taps + q];
  const int threads = omp_get_max_threads();
  const Scratch scratch(image + g.c * len, threads);
  const float* dys = grad_out.data_ptr();
  float* dxs = grad_in.data_ptr();
  const int64_t out_plane = g.out_h * g.out_w, in_plane = g.h * g.w;
  const bool finite_weights = all_finite(ws, out_ch * g.c * taps);
  parallel_for(g.n, parallel(g.n * out_ch * out_plane * g.c * taps), [&](int64_t n) {
    if (!finite_weights) {
      input_gradient_exact(dys + n * out_ch * out_plane, ws, g, out_ch, dxs + n * g.c * in_plane);
      return;
    }
    float* padded = scratch.of(omp_get_thread_num());
    float* wide = padded + image;
    pad_into(dys + n * out_ch * out_plane, out_ch, g.out_h, g.out_w, p, reach_h, reach_w, padded);
    correlate(padded, p, off, flipped.data(), g.c, wide, len);
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t r = 0; r < g.h; ++r)
        std::memcpy(dxs + (n * g.c + c) * in_plane + r * g.w, wide + c * len + (r + g.pad_h) * p.w + g.pad_w,
                    static_cast<size_t>(g.w) * sizeof(float));
  });
}

void CpuBackend::conv2d_direct_backward_weight(const Tensor& grad_out, const Tensor& x, const Window2d& g,
                                               const Tensor& grad_weight) {
  const int64_t out_ch = grad_weight.size(0), taps = g.kh * g.kw, depth = g.c * taps;
  const Padded p{g.c, g.h + 2 * g.pad_h, g.w + 2 * g.pad_w};
  const std::vector<int64_t> off = tap_offsets(g, p.w);
  std::vector<int64_t> at(static_cast<size_t>(depth));  // where tap d = c * taps + q reads
  for (int64_t d = 0; d < depth; ++d) at[static_cast<size_t>(d)] = d / taps * p.plane() + off[d % taps];
  const int64_t len = round_up(g.out_h * p.w, kSumLanes);
  const int64_t image = (p.ch - 1) * p.plane() + len + off.back();
  const int64_t chunks = (g.n + kChunk - 1) / kChunk, lanes = out_ch * depth * kSumLanes;
  Tensor partial = empty({chunks, out_ch * depth});
  const int threads = omp_get_max_threads();
  // Per thread: the padded image; the output gradient on the same wide rows (zeros in the
  // columns past out_w, written once); lane-wise sums over a chunk's samples.
  const Scratch scratch(image + out_ch * len + lanes, threads);
  const float* xs = x.data_ptr();
  const float* dys = grad_out.data_ptr();
  const int64_t out_plane = g.out_h * g.out_w;
  parallel_for(chunks, parallel(g.n * out_ch * out_plane * depth), [&](int64_t k) {
    float* padded = scratch.of(omp_get_thread_num());
    float* dy_wide = padded + image;
    float* part = dy_wide + out_ch * len;
    std::fill(part, part + lanes, 0.0f);
    for (int64_t n = k * kChunk; n < std::min(g.n, (k + 1) * kChunk); ++n) {
      pad_into(xs + n * g.c * g.h * g.w, g.c, g.h, g.w, p, g.pad_h, g.pad_w, padded);
      const Padded dy_rows{1, g.out_h, p.w};  // one plane per call: dy_wide's planes are len apart
      for (int64_t o = 0; o < out_ch; ++o)
        pad_into(dys + (n * out_ch + o) * out_plane, 1, g.out_h, g.out_w, dy_rows, 0, 0, dy_wide + o * len);
      if (!all_finite(xs + n * g.c * g.h * g.w, g.c * g.h * g.w)) {
        weight_sample_exact(padded, at.data(), depth, dy_wide, out_ch, len, g.out_h, g.out_w, p.w, part);
        continue;
      }
      weight_sample(padded, at.data(), depth, dy_wide, out_ch, len, part);
    }
    float* dw = partial.data_ptr() + k * out_ch * depth;
    for (int64_t e = 0; e < out_ch * depth; ++e) dw[e] = sum_of_16(part + e * kSumLanes);
  });
  // Chunks summed in chunk order: the same bits on any thread count.
  float* out = grad_weight.data_ptr();
  const float* parts = partial.data_ptr();
  for (int64_t e = 0; e < out_ch * depth; ++e) {
    float s = parts[e];
    for (int64_t k = 1; k < chunks; ++k) s += parts[k * out_ch * depth + e];
    out[e] = s;
  }
}

}  // namespace qtorch::cpu
