// The CPU's direct convolution (stride 1, one group) against im2col + GEMM, the reference path:
// forward, input gradient and weight gradient over LeNet's shapes and odd ones (padding,
// dilation, rectangular kernels, channel counts past one register block, batches not a multiple
// of the weight gradient's chunk), with the same bits on any thread count.
// Tolerance: the two paths add the same products in different orders, so each output may differ
// by at most 2 * depth * 2^-24 * (the sum of the absolute values of its products), depth being
// the number of products (+1 for a bias); that sum is the same op on |x| and |w|.
#include <gtest/gtest.h>

#include <cmath>
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

class ConvDirect : public ::testing::TestWithParam<Case> {};

TEST_P(ConvDirect, MatchesIm2colGemm) {
  const Case& k = GetParam();
  manual_seed(11);
  Tensor x = randn({k.n, k.c, k.h, k.w}), w = randn({k.o, k.c, k.kh, k.kw});
  Tensor b = k.bias ? randn({k.o}) : Tensor();
  const Shape y_shape = ops::conv2d(x, w, b, params(k, ConvAlgorithm::Im2col)).shape();
  Tensor dy = randn(y_shape);
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
  manual_seed(12);
  Tensor x = randn({k.n, k.c, k.h, k.w}), w = randn({k.o, k.c, k.kh, k.kw});
  Tensor b = k.bias ? randn({k.o}) : Tensor();
  Tensor dy = randn(ops::conv2d(x, w, b, params(k, ConvAlgorithm::Im2col)).shape());
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
