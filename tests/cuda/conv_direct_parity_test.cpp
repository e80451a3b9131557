// The GPU's direct convolution (core/cuda/conv_direct.cu) against the CPU's:
// - forward pass and input gradient: the CPU direct kernels' bits (the same fused
//   multiply-adds in the same order), NaN and infinities included;
// - weight gradient: within 2 * count * 2^-24 * (the sum of the absolute products) of the
//   CPU's im2col + GEMM, and the same bits on every run (chunks fixed by the shape);
// - the rule that picks it, and the error for shapes it does not take.
// tests/core/conv_direct_kernels_test.cpp runs the same kernels on the CPU, without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/core/ops.h"
#include "qtorch/qtorch.h"
#include "tests/cuda/parity.h"

using namespace qtorch;
using parity::kGpu;

namespace {

struct Case {
  const char* what;
  int64_t n, c, h, w, o, kh, kw, pad, dil;
  bool bias;
};

const Case kCases[] = {
    {"lenet conv1, batch 8", 8, 1, 28, 28, 6, 5, 5, 2, 1, true},
    {"lenet conv2, batch 8", 8, 6, 14, 14, 16, 5, 5, 0, 1, true},
    {"lenet conv1, batch 1024", 1024, 1, 28, 28, 6, 5, 5, 2, 1, true},
    {"lenet conv2, batch 1024", 1024, 6, 14, 14, 16, 5, 5, 0, 1, true},
    {"20 outputs from 17 inputs, 3x3", 3, 17, 9, 7, 20, 3, 3, 1, 1, true},
    {"dilation 2, no bias", 2, 2, 11, 10, 9, 3, 3, 2, 2, false},
    {"kernel as large as the input", 3, 2, 5, 5, 2, 5, 5, 0, 1, true},
};

Conv2dParams params(const Case& k, ConvAlgorithm a) {
  return {.pad_h = k.pad, .pad_w = k.pad, .dil_h = k.dil, .dil_w = k.dil, .algorithm = a};
}

struct Inputs {
  Tensor x, w, b, dy;
};

Inputs inputs(const Case& k, uint32_t seed) {
  const int64_t out_h = k.h + 2 * k.pad - k.dil * (k.kh - 1), out_w = k.w + 2 * k.pad - k.dil * (k.kw - 1);
  return {parity::random_cpu({k.n, k.c, k.h, k.w}, seed), parity::random_cpu({k.o, k.c, k.kh, k.kw}, seed + 1),
          k.bias ? parity::random_cpu({k.o}, seed + 2) : Tensor(),
          parity::random_cpu({k.n, k.o, out_h, out_w}, seed + 3)};
}

Tensor on_gpu(const Tensor& t) { return t.defined() ? t.to(kGpu) : t; }

}  // namespace

TEST(CudaConvDirect, ForwardAndInputGradientGiveTheCpuBits) {
  QTORCH_REQUIRE_CUDA();
  uint32_t seed = 700;
  for (const Case& k : kCases) {
    const Inputs in = inputs(k, seed);
    seed += 4;
    const Conv2dParams o = params(k, ConvAlgorithm::Direct);
    parity::expect_same_bits(ops::conv2d(in.x, in.w, in.b, o),
                             ops::conv2d(in.x.to(kGpu), in.w.to(kGpu), on_gpu(in.b), o),
                             std::string(k.what) + ": forward");
    parity::expect_same_bits(ops::conv2d_backward_input(in.dy, in.w, in.x.shape(), o),
                             ops::conv2d_backward_input(in.dy.to(kGpu), in.w.to(kGpu), in.x.shape(), o),
                             std::string(k.what) + ": input gradient");
  }
}

TEST(CudaConvDirect, NaNInputsAndInfiniteWeightsGiveTheCpuBits) {
  QTORCH_REQUIRE_CUDA();
  const Case k{"conv with NaN and inf", 2, 2, 9, 8, 5, 5, 5, 2, 1, true};
  Inputs in = inputs(k, 760);
  std::vector<float> xv = in.x.to_vector(), wv = in.w.to_vector(), dyv = in.dy.to_vector();
  xv[5] = std::nanf("");
  wv[3] = std::numeric_limits<float>::infinity();  // a corner tap: it meets the padding (inf * 0)
  wv[60] = -std::numeric_limits<float>::infinity();
  dyv[17] = std::nanf("");
  in.x = Tensor::from_vector(xv, in.x.shape());
  in.w = Tensor::from_vector(wv, in.w.shape());
  in.dy = Tensor::from_vector(dyv, in.dy.shape());
  const Conv2dParams o = params(k, ConvAlgorithm::Direct);
  parity::expect_same_bits(ops::conv2d(in.x, in.w, in.b, o), ops::conv2d(in.x.to(kGpu), in.w.to(kGpu), in.b.to(kGpu), o),
                           "forward with NaN and inf", /*nan_any_payload=*/true);
  parity::expect_same_bits(ops::conv2d_backward_input(in.dy, in.w, in.x.shape(), o),
                           ops::conv2d_backward_input(in.dy.to(kGpu), in.w.to(kGpu), in.x.shape(), o),
                           "input gradient with NaN and inf", /*nan_any_payload=*/true);
}

TEST(CudaConvDirect, WeightGradientWithinTheRoundingBoundAndTheSameEveryRun) {
  QTORCH_REQUIRE_CUDA();
  uint32_t seed = 800;
  for (const Case& k : kCases) {
    const Inputs in = inputs(k, seed);
    seed += 4;
    const Shape w_shape = in.w.shape();
    const Conv2dParams direct = params(k, ConvAlgorithm::Direct), im2col = params(k, ConvAlgorithm::Im2col);
    const Tensor dyg = in.dy.to(kGpu), xg = in.x.to(kGpu);
    const Tensor got = ops::conv2d_backward_weight(dyg, xg, w_shape, direct);
    parity::expect_same_bits(got.to(Device::cpu()), ops::conv2d_backward_weight(dyg, xg, w_shape, direct),
                             std::string(k.what) + ": weight gradient, second run");
    const std::vector<float> g = got.to_vector();
    const std::vector<float> want = ops::conv2d_backward_weight(in.dy, in.x, w_shape, im2col).to_vector();
    const std::vector<float> scale =
        ops::conv2d_backward_weight(ops::unary(UnaryOp::Abs, in.dy), ops::unary(UnaryOp::Abs, in.x), w_shape, im2col)
            .to_vector();
    const double count = double(in.dy.numel() / k.o);
    int bad = 0;
    for (size_t i = 0; i < g.size(); ++i) {
      const double tol = 2.0 * count * std::ldexp(1.0, -24) * scale[i] + 1e-30;
      if (!(std::fabs(double(g[i]) - double(want[i])) <= tol) && bad++ < 5)
        ADD_FAILURE() << k.what << ": weight " << i << " gpu " << g[i] << " cpu " << want[i] << " tolerance " << tol;
    }
  }
}

TEST(CudaConvDirect, TheRuleTakesSmallCnnsAndTheErrorSaysWhatItNeeds) {
  QTORCH_REQUIRE_CUDA();
  const Backend& gpu = backend_for(kGpu);
  Window2d conv1{.n = 1024, .c = 1, .h = 28, .w = 28, .kh = 5, .kw = 5, .pad_h = 2, .pad_w = 2, .out_h = 28, .out_w = 28};
  Window2d conv2{.n = 1024, .c = 6, .h = 14, .w = 14, .kh = 5, .kw = 5, .out_h = 10, .out_w = 10};
  EXPECT_TRUE(gpu.conv2d_direct_preferred(conv1, 6));
  EXPECT_TRUE(gpu.conv2d_direct_preferred(conv2, 16));
  // Measured on an H100: direct 1.57 times as fast at 32 -> 32 channels, 3x3; cuBLAS at 32 -> 64.
  Window2d c32{.n = 1024, .c = 32, .h = 16, .w = 16, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1, .out_h = 16, .out_w = 16};
  EXPECT_TRUE(gpu.conv2d_direct_preferred(c32, 32));
  EXPECT_FALSE(gpu.conv2d_direct_preferred(c32, 64));
  Window2d wide{.n = 8, .c = 64, .h = 8, .w = 8, .kh = 5, .kw = 5, .pad_h = 2, .pad_w = 2, .out_h = 8, .out_w = 8};
  EXPECT_FALSE(gpu.conv2d_direct_supported(wide, 64));  // 64 * 25 * 16 weights per block
  Window2d strided = conv2;
  strided.stride_h = 2;
  EXPECT_FALSE(gpu.conv2d_direct_supported(strided, 16));
  try {
    ops::conv2d(zeros({1, 64, 8, 8}, kGpu), zeros({64, 64, 5, 5}, kGpu), Tensor(),
                {.pad_h = 2, .pad_w = 2, .algorithm = ConvAlgorithm::Direct});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "conv2d: algorithm Direct needs groups 1, channels > 0 and, on cuda:0, stride 1 and at most 12288 "
              "weights per block of up to 16 channels (C*kh*kw per output channel, O*kh*kw per input channel); "
              "got groups 1, stride 1x1, channels 64 -> 64, kernel 5x5");
  }
}
