// The CPU's direct convolution (stride 1, one group) against im2col + GEMM, the reference path:
// forward, input gradient and weight gradient over LeNet's shapes and odd ones (padding,
// dilation, rectangular kernels, channel counts past one register block, batches not a multiple
// of the weight gradient's chunk), with the same bits on any thread count.
// Tolerance: the two paths add the same products in different orders, so each output may differ
// by at most 2 * depth * 2^-24 * (the sum of the absolute values of its products), depth being
// the number of products (+1 for a bias); that sum is the same op on |x| and |w|.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/core/ops.h"
#include "qtorch/qtorch.h"

using namespace qtorch;

namespace {

struct Case {
  const char* what;
  int64_t n, c, h, w, o, kh, kw, pad_h, pad_w, dil_h, dil_w;
  bool bias;
};

const Case kCases[] = {
    {"LeNet conv1 (1->6 5x5, padding 2)", 9, 1, 28, 28, 6, 5, 5, 2, 2, 1, 1, true},
    {"LeNet conv2 (6->16 5x5)", 17, 6, 14, 14, 16, 5, 5, 0, 0, 1, 1, true},
    {"odd sizes, rectangular kernel and padding", 3, 3, 7, 9, 5, 3, 2, 1, 0, 1, 1, true},
    {"dilation 2, 9 outputs (a block of 8 and one)", 2, 2, 11, 10, 9, 3, 3, 2, 1, 2, 2, false},
    {"1x1 kernel, no bias", 4, 4, 5, 5, 3, 1, 1, 0, 0, 1, 1, false},
    {"padding past the kernel's half", 1, 2, 4, 6, 7, 3, 3, 2, 2, 1, 1, true},
    {"rows wider than a register tile", 2, 3, 6, 45, 4, 3, 5, 1, 2, 1, 1, true},
    {"kernel as large as the input", 3, 2, 5, 5, 2, 5, 5, 0, 0, 1, 1, true},
};

Tensor abs_of(const Tensor& t) {
  std::vector<float> v = t.to_vector();
  for (float& e : v) e = std::fabs(e);
  return Tensor::from_vector(v, t.shape());
}

Conv2dParams params(const Case& k, ConvAlgorithm algorithm) {
  return {.pad_h = k.pad_h, .pad_w = k.pad_w, .dil_h = k.dil_h, .dil_w = k.dil_w, .algorithm = algorithm};
}

// Results of one case: forward, input gradient, weight gradient.
struct Results {
  std::vector<float> y, dx, dw;
};

Results run(const Case& k, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy,
            ConvAlgorithm algorithm) {
  const Conv2dParams o = params(k, algorithm);
  return {ops::conv2d(x, w, b, o).to_vector(), ops::conv2d_backward_input(dy, w, x.shape(), o).to_vector(),
          ops::conv2d_backward_weight(dy, x, w.shape(), o).to_vector()};
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::vector<float>& abs_sum,
                  double depth, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = 2.0 * depth * std::ldexp(1.0, -24) * abs_sum[i] + 1e-30;
    if (std::fabs(double(got[i]) - double(want[i])) > tol && reported++ < 5)
      ADD_FAILURE() << what << " at " << i << ": direct " << got[i] << ", im2col " << want[i] << ", tolerance " << tol;
  }
}

// A case's random input, kernel, bias (when it has one) and output gradient.
struct Inputs {
  Tensor x, w, b, dy;
};

Inputs random_inputs(const Case& k, uint64_t seed) {
  manual_seed(seed);
  Inputs in;
  in.x = randn({k.n, k.c, k.h, k.w});
  in.w = randn({k.o, k.c, k.kh, k.kw});
  in.b = k.bias ? randn({k.o}) : Tensor();
  in.dy = randn(ops::conv2d(in.x, in.w, in.b, params(k, ConvAlgorithm::Im2col)).shape());
  return in;
}

class ConvDirect : public ::testing::TestWithParam<Case> {};

TEST_P(ConvDirect, MatchesIm2colGemm) {
  const Case& k = GetParam();
  const auto [x, w, b, dy] = random_inputs(k, 11);
  const Shape y_shape = dy.shape();
  const Results direct = run(k, x, w, b, dy, ConvAlgorithm::Direct);
  const Results ref = run(k, x, w, b, dy, ConvAlgorithm::Im2col);
  const Results abs = run(k, abs_of(x), abs_of(w), k.bias ? abs_of(b) : b, abs_of(dy), ConvAlgorithm::Im2col);
  expect_close(direct.y, ref.y, abs.y, double(k.c * k.kh * k.kw + 1), std::string(k.what) + ": forward");
  expect_close(direct.dx, ref.dx, abs.dx, double(k.o * k.kh * k.kw), std::string(k.what) + ": input gradient");
  expect_close(direct.dw, ref.dw, abs.dw, double(y_shape[0] * y_shape[2] * y_shape[3]),
               std::string(k.what) + ": weight gradient");
}

TEST_P(ConvDirect, SameBitsOnAnyThreadCount) {
  const Case& k = GetParam();
  const auto [x, w, b, dy] = random_inputs(k, 12);
  const int before = get_num_threads();
  set_num_threads(1);
  const Results one = run(k, x, w, b, dy, ConvAlgorithm::Direct);
  for (int threads : {2, 3}) {
    set_num_threads(threads);
    const Results more = run(k, x, w, b, dy, ConvAlgorithm::Direct);
    EXPECT_EQ(more.y, one.y) << k.what << ": forward, " << threads << " threads";
    EXPECT_EQ(more.dx, one.dx) << k.what << ": input gradient, " << threads << " threads";
    EXPECT_EQ(more.dw, one.dw) << k.what << ": weight gradient, " << threads << " threads";
  }
  set_num_threads(before);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvDirect, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) { return "case" + std::to_string(info.index); });

// The order the direct convolution documents (core/cpu/cpu_conv_direct.cpp), written out one
// float at a time: each sum a chain of fused multiply-adds from +0, the forward over (c, i, j)
// then + bias, the input gradient over (o, flipped tap), the weight gradient as 16 partial sums
// (one per position t = row * padded width + column, modulo 16; each sample's chain from +0
// added to its partial sum), those 16 added in a fixed tree and the chunks of 8 samples in order.
// Bits, not a tolerance: a build whose vectors hold 4 or 8 floats must give the AVX-512 build's.
struct Reference {
  const Case& k;
  std::vector<float> x, w, b, dy;
  int64_t oh, ow;
  float X(int64_t n, int64_t c, int64_t r, int64_t col) const {  // padded input
    r -= k.pad_h, col -= k.pad_w;
    if (r < 0 || r >= k.h || col < 0 || col >= k.w) return 0.0f;
    return x[static_cast<size_t>(((n * k.c + c) * k.h + r) * k.w + col)];
  }
  float W(int64_t o, int64_t c, int64_t i, int64_t j) const {
    return w[static_cast<size_t>(((o * k.c + c) * k.kh + i) * k.kw + j)];
  }
  float DY(int64_t n, int64_t o, int64_t r, int64_t col) const {  // zero outside the output
    if (r < 0 || r >= oh || col < 0 || col >= ow) return 0.0f;
    return dy[static_cast<size_t>(((n * k.o + o) * oh + r) * ow + col)];
  }
  std::vector<float> forward() const {
    std::vector<float> y;
    for (int64_t n = 0; n < k.n; ++n)
      for (int64_t o = 0; o < k.o; ++o)
        for (int64_t r = 0; r < oh; ++r)
          for (int64_t col = 0; col < ow; ++col) {
            float acc = 0.0f;
            for (int64_t c = 0; c < k.c; ++c)
              for (int64_t i = 0; i < k.kh; ++i)
                for (int64_t j = 0; j < k.kw; ++j)
                  acc = std::fma(W(o, c, i, j), X(n, c, r + i * k.dil_h, col + j * k.dil_w), acc);
            y.push_back(k.bias ? acc + b[static_cast<size_t>(o)] : acc);
          }
    return y;
  }
  std::vector<float> input_gradient() const {
    const int64_t reach_h = (k.kh - 1) * k.dil_h, reach_w = (k.kw - 1) * k.dil_w;
    std::vector<float> dx;
    for (int64_t n = 0; n < k.n; ++n)
      for (int64_t c = 0; c < k.c; ++c)
        for (int64_t r = 0; r < k.h; ++r)
          for (int64_t col = 0; col < k.w; ++col) {
            float acc = 0.0f;  // row r + pad_h of the padded input's gradient
            for (int64_t o = 0; o < k.o; ++o)
              for (int64_t i = 0; i < k.kh; ++i)  // flipped taps: (kh-1-i, kw-1-j) of the kernel
                for (int64_t j = 0; j < k.kw; ++j)
                  acc = std::fma(W(o, c, k.kh - 1 - i, k.kw - 1 - j),
                                 DY(n, o, r + k.pad_h + i * k.dil_h - reach_h, col + k.pad_w + j * k.dil_w - reach_w),
                                 acc);
            dx.push_back(acc);
          }
    return dx;
  }
  std::vector<float> weight_gradient() const {
    const int64_t wide = k.w + 2 * k.pad_w;  // the padded width: t = row * wide + column
    std::vector<float> dw;
    for (int64_t o = 0; o < k.o; ++o)
      for (int64_t c = 0; c < k.c; ++c)
        for (int64_t i = 0; i < k.kh; ++i)
          for (int64_t j = 0; j < k.kw; ++j) {
            float total = 0.0f;
            for (int64_t n0 = 0; n0 < k.n; n0 += 8) {
              float part[16] = {};
              for (int64_t n = n0; n < std::min(k.n, n0 + 8); ++n) {
                float chain[16] = {};
                for (int64_t r = 0; r < oh; ++r)
                  for (int64_t col = 0; col < ow; ++col) {
                    float& s = chain[(r * wide + col) % 16];
                    s = std::fma(DY(n, o, r, col), X(n, c, r + i * k.dil_h, col + j * k.dil_w), s);
                  }
                for (int l = 0; l < 16; ++l) part[l] += chain[l];
              }
              float a[8], q[4];
              for (int l = 0; l < 8; ++l) a[l] = part[l] + part[l + 8];
              for (int l = 0; l < 4; ++l) q[l] = a[l] + a[l + 4];
              const float chunk = (q[0] + q[1]) + (q[2] + q[3]);
              total = n0 == 0 ? chunk : total + chunk;
            }
            dw.push_back(total);
          }
    return dw;
  }
};

TEST_P(ConvDirect, BitsOfTheDocumentedOrder) {
  const Case& k = GetParam();
  const auto [x, w, b, dy] = random_inputs(k, 14);
  const Shape y_shape = dy.shape();
  const Reference ref{k, x.to_vector(), w.to_vector(), k.bias ? b.to_vector() : std::vector<float>{},
                      dy.to_vector(), y_shape[2], y_shape[3]};
  const Results direct = run(k, x, w, b, dy, ConvAlgorithm::Direct);
  EXPECT_EQ(direct.y, ref.forward()) << k.what << ": forward";
  EXPECT_EQ(direct.dx, ref.input_gradient()) << k.what << ": input gradient";
  EXPECT_EQ(direct.dw, ref.weight_gradient()) << k.what << ": weight gradient";
}

// An infinite or NaN input meets the wide rows' extra columns, where the output gradient is
// zero: the weight gradient must not gain 0 * inf = NaN there. Taps that never see the special
// value keep finite gradients, as with im2col and in PyTorch (conv2d's weight.grad, 1.13: for
// a 6x6 input of ones with inf at row 0, column 5, a 3x3 kernel and dy of ones, [16, 16, inf,
// 16, 16, 16, 16, 16, 16]); the other samples of the chunk keep the documented order.
TEST(ConvDirectSpecials, InfiniteOrNaNInputGivesTheWeightGradientOfItsOwnPositions) {
  {
    std::vector<float> xv(36, 1.0f), dyv(16, 1.0f);
    xv[5] = std::numeric_limits<float>::infinity();
    const Conv2dParams o{.algorithm = ConvAlgorithm::Direct};
    const std::vector<float> dw =
        ops::conv2d_backward_weight(Tensor::from_vector(dyv, {1, 1, 4, 4}), Tensor::from_vector(xv, {1, 1, 6, 6}),
                                    {1, 1, 3, 3}, o)
            .to_vector();
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(dw, (std::vector<float>{16, 16, inf, 16, 16, 16, 16, 16, 16}));
  }
  for (const Case& k : kCases) {
    manual_seed(15);
    Tensor x = randn({k.n, k.c, k.h, k.w}), w = randn({k.o, k.c, k.kh, k.kw});
    std::vector<float> xv = x.to_vector();
    // The last column of the first sample's first row (read by the wide columns of the rows
    // above it and of its own) and a NaN at the end of the last sample.
    xv[static_cast<size_t>(k.w - 1)] = std::numeric_limits<float>::infinity();
    xv.back() = std::nanf("");
    x = Tensor::from_vector(xv, x.shape());
    Tensor dy = randn(ops::conv2d(x, w, Tensor(), params(k, ConvAlgorithm::Im2col)).shape());
    const Reference ref{k, xv, w.to_vector(), {}, dy.to_vector(), dy.size(2), dy.size(3)};
    const std::vector<float> want = ref.weight_gradient();
    const std::vector<float> got = ops::conv2d_backward_weight(dy, x, w.shape(), params(k, ConvAlgorithm::Direct)).to_vector();
    ASSERT_EQ(got.size(), want.size());
    int finite = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      finite += std::isfinite(want[i]);
      if (std::isnan(want[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << k.what << " at " << i;
      } else {
        EXPECT_EQ(got[i], want[i]) << k.what << " at " << i;
      }
    }
    if (k.kw > 1 && k.n > 1) {
      EXPECT_GT(finite, 0) << k.what << ": some taps should miss both special values";
    }
  }
}

// An infinite weight meets the padded output gradient's zeros in the input gradient: the
// gradient has no such products (im2col's has none), so it is inf where the weight reaches,
// not NaN. PyTorch 1.13, conv2d of a 4x4 input of ones, a 3x3 kernel of ones with inf at
// [0][0], padding 1, dy of ones: x.grad = [[inf, inf, inf, 4], [inf, inf, inf, 6],
// [inf, inf, inf, 6], [4, 6, 6, 4]]. (The forward pass multiplies the padding, as PyTorch
// does: NaN there.)
TEST(ConvDirectSpecials, InfiniteWeightGivesTheInputGradientOfItsOwnProducts) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> wv(9, 1.0f);
  wv[0] = inf;
  const Tensor w = Tensor::from_vector(wv, {1, 1, 3, 3}), dy = Tensor::from_vector(std::vector<float>(16, 1.0f), {1, 1, 4, 4});
  const std::vector<float> want = {inf, inf, inf, 4, inf, inf, inf, 6, inf, inf, inf, 6, 4, 6, 6, 4};
  for (ConvAlgorithm a : {ConvAlgorithm::Direct, ConvAlgorithm::Im2col}) {
    const Conv2dParams o{.pad_h = 1, .pad_w = 1, .algorithm = a};
    EXPECT_EQ(ops::conv2d_backward_input(dy, w, {1, 1, 4, 4}, o).to_vector(), want) << static_cast<int>(a);
  }
  // Finite weights: the documented order's bits are kept (BitsOfTheDocumentedOrder); with an
  // infinite one on a larger case, every value agrees with im2col's where that is not NaN.
  for (const Case& k : kCases) {
    manual_seed(16);
    Tensor x = randn({k.n, k.c, k.h, k.w});
    std::vector<float> kv = randn({k.o, k.c, k.kh, k.kw}).to_vector();
    kv[0] = inf;
    const Tensor wk = Tensor::from_vector(kv, {k.o, k.c, k.kh, k.kw});
    const Tensor dyk = randn(ops::conv2d(x, wk, Tensor(), params(k, ConvAlgorithm::Im2col)).shape());
    const std::vector<float> direct = ops::conv2d_backward_input(dyk, wk, x.shape(), params(k, ConvAlgorithm::Direct)).to_vector();
    const std::vector<float> im2col = ops::conv2d_backward_input(dyk, wk, x.shape(), params(k, ConvAlgorithm::Im2col)).to_vector();
    for (size_t i = 0; i < direct.size(); ++i) {
      if (std::isinf(im2col[i])) {
        EXPECT_EQ(direct[i], im2col[i]) << k.what << " at " << i;
      } else {
        EXPECT_EQ(std::isnan(direct[i]), std::isnan(im2col[i])) << k.what << " at " << i;
      }
    }
  }
}

// Large enough that every kernel runs on several threads (the thread test's cases are small).
TEST(ConvDirectThreads, LeNetBatchSameBitsOnOneAndTwoThreads) {
  const Case k{"LeNet conv2, batch 128", 128, 6, 14, 14, 16, 5, 5, 0, 0, 1, 1, true};
  manual_seed(13);
  Tensor x = randn({k.n, k.c, k.h, k.w}), w = randn({k.o, k.c, k.kh, k.kw}), b = randn({k.o});
  Tensor dy = randn({k.n, k.o, 10, 10});
  const int before = get_num_threads();
  set_num_threads(1);
  const Results one = run(k, x, w, b, dy, ConvAlgorithm::Direct);
  set_num_threads(2);
  const Results two = run(k, x, w, b, dy, ConvAlgorithm::Direct);
  set_num_threads(before);
  EXPECT_EQ(one.y, two.y);
  EXPECT_EQ(one.dx, two.dx);
  EXPECT_EQ(one.dw, two.dw);
}

TEST(ConvDirectRule, LeNetShapesGoDirectStridedAndSmallPlanesDoNot) {
  Backend& cpu = backend_for(Device::cpu());
  Window2d conv1{.n = 128, .c = 1, .h = 28, .w = 28, .kh = 5, .kw = 5, .pad_h = 2, .pad_w = 2, .out_h = 28, .out_w = 28};
  Window2d conv2{.n = 128, .c = 6, .h = 14, .w = 14, .kh = 5, .kw = 5, .out_h = 10, .out_w = 10};
  EXPECT_TRUE(cpu.conv2d_direct_preferred(conv1, 6));
  EXPECT_TRUE(cpu.conv2d_direct_preferred(conv2, 16));
  Window2d small_plane{.n = 128, .c = 32, .h = 8, .w = 8, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1, .out_h = 8, .out_w = 8};
  EXPECT_TRUE(cpu.conv2d_direct_supported(small_plane, 64));
  EXPECT_FALSE(cpu.conv2d_direct_preferred(small_plane, 64));  // measured: im2col is faster there
  Window2d strided = conv2;
  strided.stride_h = strided.stride_w = 2;
  EXPECT_FALSE(cpu.conv2d_direct_supported(strided, 16));
  EXPECT_FALSE(cpu.conv2d_direct_preferred(strided, 16));
}

TEST(ConvDirectErrors, GradientsCheckTheShapeOfGradOut) {
  for (ConvAlgorithm a : {ConvAlgorithm::Direct, ConvAlgorithm::Im2col}) {
    const Conv2dParams o{.pad_h = 1, .pad_w = 1, .algorithm = a};
    Tensor x = zeros({2, 3, 5, 5}), w = zeros({4, 3, 3, 3}), bad = zeros({2, 4, 5, 4});
    try {
      ops::conv2d_backward_input(bad, w, x.shape(), o);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "conv2d_backward_input: expected grad_out [2, 4, 5, 5], got [2, 4, 5, 4]");
    }
    try {
      ops::conv2d_backward_weight(bad, x, w.shape(), o);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "conv2d_backward_weight: expected grad_out [2, 4, 5, 5], got [2, 4, 5, 4]");
    }
  }
}

TEST(ConvDirectErrors, DirectOnAnUnsupportedShapeSaysWhy) {
  auto message = [](const Conv2dParams& o, int64_t groups) {
    try {
      ops::conv2d(zeros({1, 2, 6, 6}), zeros({2, 2 / groups, 3, 3}), Tensor(), o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message({.stride_h = 2, .stride_w = 2, .algorithm = ConvAlgorithm::Direct}, 1),
            "conv2d: algorithm Direct needs groups 1, channels > 0 and, on cpu, stride 1; got groups 1, "
            "stride 2x2, channels 2 -> 2, kernel 3x3");
  EXPECT_EQ(message({.groups = 2, .algorithm = ConvAlgorithm::Direct}, 2),
            "conv2d: algorithm Direct needs groups 1, channels > 0 and, on cpu, stride 1; got groups 2, "
            "stride 1x1, channels 2 -> 2, kernel 3x3");
}

}  // namespace
