// The GPU's direct convolution kernels (core/cuda/conv_direct_kernels.cuh) run on the CPU
// through tests/support/cuda_emulation.h, launched as the library launches them
// (run_forward, run_backward_input, run_backward_weight) and by hand with a small grid and
// 64-bit indices, so that their indexing, shared memory and sums are checked on machines
// without a GPU; tests/cuda runs the same kernels on a device.
// - Forward pass and input gradient: the bits of the CPU's direct kernels, which accumulate
//   each value with a fused multiply-add in the same order (the kernel header says which).
//   Inputs with NaN and an infinite weight check the padding taps too (inf * 0 is NaN on both).
// - Weight gradient: within 2 * count * 2^-24 * (the sum of the absolute products) of im2col +
//   GEMM, count being the number of products per weight; the chunk rule by hand.
// Each launch fills the emulated shared memory with NaN first, so a read of a slot the block
// did not write shows up in the result.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/core/ops.h"
#include "qtorch/qtorch.h"
#include "tests/support/cuda_emulation.h"
#include "tests/support/same_bits.h"
// After the emulation: the kernels see its CUDA keywords.
#include "qtorch/core/cuda/conv_direct_kernels.cuh"

namespace qtorch::cuda::conv_direct {
float conv_shared[kMaxSharedFloats];  // the kernels' `extern __shared__` array
}  // namespace qtorch::cuda::conv_direct

using namespace qtorch;
namespace cd = qtorch::cuda::conv_direct;
using qtorch::cuda::WindowIndex;
using qtorch::test_support::expect_same_bits;

namespace {

struct Case {
  const char* what;
  int64_t n, c, h, w, o, kh, kw, pad_h, pad_w, dil_h, dil_w;
  bool bias;
};

const Case kCases[] = {
    {"LeNet conv1 (1->6 5x5, padding 2)", 3, 1, 28, 28, 6, 5, 5, 2, 2, 1, 1, true},
    {"LeNet conv2 (6->16 5x5)", 5, 6, 14, 14, 16, 5, 5, 0, 0, 1, 1, true},
    {"odd sizes, rectangular kernel and padding", 3, 3, 7, 9, 5, 3, 2, 1, 0, 1, 1, true},
    {"dilation 2, 9 outputs", 2, 2, 11, 10, 9, 3, 3, 2, 1, 2, 2, false},
    {"1x1 kernel, no bias", 4, 4, 5, 5, 3, 1, 1, 0, 0, 1, 1, false},
    {"padding past the kernel's half", 1, 2, 4, 6, 7, 3, 3, 2, 2, 1, 1, true},
    {"20 outputs from 17 inputs (blocks of 16 and a rest)", 2, 17, 6, 5, 20, 3, 3, 1, 1, 1, 1, true},
    {"kernel as large as the input", 3, 2, 5, 5, 2, 5, 5, 0, 0, 1, 1, true},
};

Window2d geometry(const Case& k) {
  Window2d g{.n = k.n, .c = k.c, .h = k.h, .w = k.w, .kh = k.kh, .kw = k.kw, .pad_h = k.pad_h, .pad_w = k.pad_w,
             .dil_h = k.dil_h, .dil_w = k.dil_w};
  g.out_h = k.h + 2 * k.pad_h - k.dil_h * (k.kh - 1);
  g.out_w = k.w + 2 * k.pad_w - k.dil_w * (k.kw - 1);
  return g;
}

Conv2dParams params(const Case& k) {
  return {.pad_h = k.pad_h, .pad_w = k.pad_w, .dil_h = k.dil_h, .dil_w = k.dil_w, .algorithm = ConvAlgorithm::Direct};
}

void poison_shared() {
  std::fill(std::begin(cd::conv_shared), std::end(cd::conv_shared), std::numeric_limits<float>::quiet_NaN());
}

// How the launches of one call are made: as the library makes them (run_forward and the
// others, with cuda::QueuedLaunch's counterpart), or by hand with a cap on the grid's
// position blocks (small ones make the grid-stride loops run) and 64-bit indices.
struct Launch {
  bool by_hand = false;
  int64_t cap = 65535LL * 32;
  bool wide_index = false;
};

const cuda_emulation::Launch kEmulated{.shared_capacity = sizeof(cd::conv_shared)};

template <class F>
void with_index(bool wide, F&& f) {
  if (wide)
    f(int64_t{});
  else
    f(int32_t{});
}

std::vector<float> emulate_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Window2d& g,
                                   Launch how) {
  const int64_t out_c = w.size(0);
  std::vector<float> y(static_cast<size_t>(g.n * out_c * g.out_h * g.out_w), -1.0f);
  if (!how.by_hand) {
    poison_shared();
    cd::run_forward(x.data_ptr(), w.data_ptr(), b.defined() ? b.data_ptr() : nullptr, g, out_c, y.data(), kEmulated);
    return y;
  }
  cd::with_channel_block(out_c, [&](auto block) {
    constexpr int B = decltype(block)::value;
    EXPECT_LE(g.c * g.kh * g.kw * B, cd::kMaxSharedFloats);
    with_index(how.wide_index, [&](auto zero) {
      using I = decltype(zero);
      poison_shared();
      cuda_emulation::launch(cd::forward_kernel<B, I>, cd::position_grid(g.n * g.out_h * g.out_w, out_c, B, how.cap),
                             dim3(cd::kThreads), x.data_ptr(), w.data_ptr(),
                             b.defined() ? b.data_ptr() : static_cast<float*>(nullptr), WindowIndex<I>(g),
                             static_cast<I>(out_c), y.data());
    });
  });
  return y;
}

std::vector<float> emulate_backward_input(const Tensor& dy, const Tensor& w, const Window2d& g, Launch how) {
  const int64_t out_c = w.size(0);
  std::vector<float> dx(static_cast<size_t>(g.n * g.c * g.h * g.w), -1.0f);
  if (!how.by_hand) {
    poison_shared();
    cd::run_backward_input(dy.data_ptr(), w.data_ptr(), g, out_c, dx.data(), kEmulated);
    return dx;
  }
  cd::with_channel_block(g.c, [&](auto block) {
    constexpr int B = decltype(block)::value;
    EXPECT_LE(out_c * g.kh * g.kw * B, cd::kMaxSharedFloats);
    with_index(how.wide_index, [&](auto zero) {
      using I = decltype(zero);
      poison_shared();
      cuda_emulation::launch(cd::backward_input_kernel<B, I>, cd::position_grid(g.n * g.h * g.w, g.c, B, how.cap),
                             dim3(cd::kThreads), dy.data_ptr(), w.data_ptr(), WindowIndex<I>(g),
                             static_cast<I>(out_c), dx.data());
    });
  });
  return dx;
}

std::vector<float> emulate_backward_weight(const Tensor& dy, const Tensor& x, const Window2d& g, int64_t out_c,
                                           bool wide_index) {
  const int64_t depth = g.c * g.kh * g.kw, weights = out_c * depth;
  const cd::WeightChunks chunks = cd::weight_chunks(g.n, g.out_h * g.out_w, out_c, depth);
  std::vector<float> partial(static_cast<size_t>(chunks.chunks * weights), std::nanf(""));
  std::vector<float> dw(static_cast<size_t>(weights), -1.0f);
  if (!wide_index) {
    poison_shared();
    cd::run_backward_weight(dy.data_ptr(), x.data_ptr(), g, out_c, partial.data(), dw.data(), kEmulated);
    return dw;
  }
  with_index(wide_index, [&](auto zero) {
    using I = decltype(zero);
    poison_shared();
    cuda_emulation::launch(cd::weight_partial_kernel<I>, cd::weight_grid(out_c, depth, chunks), dim3(cd::kThreads),
                           dy.data_ptr(), x.data_ptr(), WindowIndex<I>(g), static_cast<I>(out_c),
                           static_cast<I>(chunks.samples), partial.data());
    cuda_emulation::launch(cd::weight_sum_kernel<I>, dim3(2), dim3(32), static_cast<const float*>(partial.data()),
                           static_cast<I>(chunks.chunks), static_cast<I>(weights), dw.data());
  });
  return dw;
}

Tensor abs_of(const Tensor& t) { return ops::unary(UnaryOp::Abs, t); }

class ConvDirectKernels : public ::testing::TestWithParam<Case> {};

TEST_P(ConvDirectKernels, ForwardAndInputGradientGiveTheCpuBits) {
  const Case& k = GetParam();
  const Window2d g = geometry(k);
  manual_seed(21);
  Tensor x = randn({k.n, k.c, k.h, k.w}), w = randn({k.o, k.c, k.kh, k.kw});
  Tensor b = k.bias ? randn({k.o}) : Tensor();
  Tensor dy = randn({k.n, k.o, g.out_h, g.out_w});
  const Conv2dParams o = params(k);
  const std::vector<float> y = ops::conv2d(x, w, b, o).to_vector();
  const std::vector<float> dx = ops::conv2d_backward_input(dy, w, x.shape(), o).to_vector();
  expect_same_bits(emulate_forward(x, w, b, g, {}), y, std::string(k.what) + ": forward");
  expect_same_bits(emulate_backward_input(dy, w, g, {}), dx, std::string(k.what) + ": input gradient");
  // Grid-stride loops (two blocks of positions) and 64-bit indices give the same bits.
  expect_same_bits(emulate_forward(x, w, b, g, {.by_hand = true, .cap = 2, .wide_index = true}), y,
                   std::string(k.what) + ": forward, grid stride, int64");
  expect_same_bits(emulate_backward_input(dy, w, g, {.by_hand = true, .cap = 2, .wide_index = true}), dx,
                   std::string(k.what) + ": input gradient, grid stride, int64");
}

TEST_P(ConvDirectKernels, WeightGradientWithinTheRoundingBoundOfIm2col) {
  const Case& k = GetParam();
  const Window2d g = geometry(k);
  manual_seed(22);
  Tensor x = randn({k.n, k.c, k.h, k.w}), dy = randn({k.n, k.o, g.out_h, g.out_w});
  const Shape w_shape{k.o, k.c, k.kh, k.kw};
  Conv2dParams o = params(k);
  o.algorithm = ConvAlgorithm::Im2col;
  const std::vector<float> want = ops::conv2d_backward_weight(dy, x, w_shape, o).to_vector();
  const std::vector<float> scale = ops::conv2d_backward_weight(abs_of(dy), abs_of(x), w_shape, o).to_vector();
  const double count = double(k.n * g.out_h * g.out_w);
  for (bool wide : {false, true}) {
    const std::vector<float> got = emulate_backward_weight(dy, x, g, k.o, wide);
    ASSERT_EQ(got.size(), want.size());
    int reported = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double tol = 2.0 * count * std::ldexp(1.0, -24) * scale[i] + 1e-30;
      if (!(std::fabs(double(got[i]) - double(want[i])) <= tol) && reported++ < 5)
        ADD_FAILURE() << k.what << (wide ? " (int64)" : "") << ": weight " << i << " kernel " << got[i]
                      << ", im2col " << want[i] << ", tolerance " << tol;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvDirectKernels, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) { return "case" + std::to_string(info.index); });

TEST(ConvDirectKernelsSpecials, NaNInputsAndInfiniteWeightsGiveTheCpuBits) {
  const Case k{"LeNet conv1 with NaN and inf", 2, 2, 9, 8, 5, 5, 5, 2, 2, 1, 1, true};
  const Window2d g = geometry(k);
  manual_seed(23);
  Tensor x = randn({k.n, k.c, k.h, k.w}), w = randn({k.o, k.c, k.kh, k.kw}), b = randn({k.o});
  Tensor dy = randn({k.n, k.o, g.out_h, g.out_w});
  std::vector<float> xv = x.to_vector(), wv = w.to_vector(), dyv = dy.to_vector();
  xv[5] = std::nanf("");                               // one NaN in the first plane
  wv[3] = std::numeric_limits<float>::infinity();      // a corner tap: it meets the padding
  wv[60] = -std::numeric_limits<float>::infinity();
  dyv[17] = std::nanf("");
  x = Tensor::from_vector(xv, x.shape());
  w = Tensor::from_vector(wv, w.shape());
  dy = Tensor::from_vector(dyv, dy.shape());
  const Conv2dParams o = params(k);
  const std::vector<float> y = ops::conv2d(x, w, b, o).to_vector();
  int nans = 0;
  for (float v : y) nans += std::isnan(v);
  EXPECT_GT(nans, 0) << "the case should make NaNs in the padding";
  expect_same_bits(emulate_forward(x, w, b, g, {}), y, "forward with NaN and inf");
  expect_same_bits(emulate_backward_input(dy, w, g, {}), ops::conv2d_backward_input(dy, w, x.shape(), o).to_vector(),
                   "input gradient with NaN and inf");
}

TEST(ConvDirectKernelsChunks, ChunksFollowTheShapeAndCoverEverySample) {
  // LeNet at batch 1024: conv1 has 1 x 7 tiles, so 147 chunks are wanted: 7 samples each.
  cd::WeightChunks k = cd::weight_chunks(1024, 28 * 28, 6, 25);
  EXPECT_EQ(k.samples, 7);
  EXPECT_EQ(k.chunks, 147);
  // conv2: 2 x 38 = 76 tiles, 14 chunks wanted: 74 samples each.
  k = cd::weight_chunks(1024, 10 * 10, 16, 150);
  EXPECT_EQ(k.samples, 74);
  EXPECT_EQ(k.chunks, 14);
  // A plane of 9 positions: at least 29 samples, so that the 256 threads have work.
  k = cd::weight_chunks(100, 9, 4, 9);
  EXPECT_EQ(k.samples, 29);
  EXPECT_EQ(k.chunks, 4);
  // One sample: one chunk.
  k = cd::weight_chunks(1, 4, 64, 576);
  EXPECT_EQ(k.samples, 1);
  EXPECT_EQ(k.chunks, 1);
  for (int64_t n : {1, 2, 7, 100, 1000, 70000, 200000})
    for (int64_t plane : {1, 9, 100, 784}) {
      k = cd::weight_chunks(n, plane, 16, 150);
      EXPECT_GE(k.samples * k.chunks, n) << n << " " << plane;
      EXPECT_LT((k.chunks - 1) * k.samples, n) << n << " " << plane;
      EXPECT_LE(k.chunks, 65535) << n << " " << plane;
    }
}

}  // namespace
