// The element ops taken into the quantize passes on the GPU: quantize_fused with a bias
// before, a ReLU after, ReLU's backward before (the gate), and a bias and a ReLU, against the
// CPU (the ops one by one there): outputs, masks, counts and generator offsets, bit for bit.
// The modules (Linear -> Quantizer -> ReLU) are checked in quantize_parity_test.cpp's
// LinearThenQuantizerFusedGivesTheBitsOfTheTwoModules.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "qtorch/core/generator.h"
#include "qtorch/qtorch.h"
#include "qtorch/quant/quantize.h"
#include "tests/cuda/parity.h"

using namespace qtorch;
using parity::kGpu;

namespace {

const Rounding kRoundings[] = {Rounding::Stochastic, Rounding::Nearest,  Rounding::NearestEven,
                               Rounding::TowardZero, Rounding::Up,       Rounding::Down};

/// Random values at several scales, with zeros of both signs, inf and NaN among them.
Tensor mixed(const Shape& shape, uint32_t seed) {
  std::vector<float> v = parity::random_cpu({numel_of(shape)}, seed, -1, 1).to_vector();
  const float scales[] = {1.0f, 8.0f, 1e-3f, 300.0f, 1e-6f};
  for (size_t i = 0; i < v.size(); ++i) v[i] *= scales[i % 5];
  const float inf = std::numeric_limits<float>::infinity();
  const float special[] = {0.0f, -0.0f, inf, -inf, std::nanf(""), 1e-40f, -1e-40f};
  for (size_t i = 0; i < 7 && i * 29 + 5 < v.size(); ++i) v[i * 29 + 5] = special[i];
  return Tensor::from_vector(v, shape);
}

/// A ReLU's output: nonnegative values and zeros, a NaN among them.
Tensor relu_output(const Shape& shape, uint32_t seed) {
  std::vector<float> v = mixed(shape, seed).to_vector();
  for (float& e : v) e = (e > 0.0f || std::isnan(e)) ? e : 0.0f;
  return Tensor::from_vector(v, shape);
}

/// `t` on the GPU as a view that starts 4 bytes past a 16-byte boundary.
Tensor misaligned_on_gpu(const Tensor& t) {
  const int64_t n = t.numel();
  Tensor padded = zeros({n + 1}, kGpu);
  padded.slice(0, 1, n + 1).copy_(t.reshape({n}).to(kGpu));
  return padded.slice(0, 1, n + 1).reshape(t.shape());
}

TEST(CudaQuantize, ElementOpsInTheQuantizePassGiveTheCpuBits) {
  QTORCH_REQUIRE_CUDA();
  // quantize_fused on the GPU (the ops inside segments_kernel: elementwise chunks, rows from
  // registers, rows read twice) against the CPU (the ops one by one). Shapes: a linear
  // layer's [batch, 256], [batch, 10] (rows read twice), a row of 7, three dimensions, a
  // tensor past one 8192-element chunk, LeNet's two convolution outputs with the bias on the
  // channels (rows read twice, the channel worked out per element), and layouts that run the
  // ops one by one on the GPU too (MX, NVFP4, rows past 8192, blocks across rows, fixed and
  // float with a bias off the last axis). Ops: a bias, a ReLU, ReLU's backward (the gate),
  // a bias and a ReLU.
  struct Case {
    Shape shape;
    int axis;
  };
  const Case cases[] = {{{128, 256}, -1}, {{128, 10}, -1}, {{3, 7}, -1},         {{2, 5, 40}, -1},
                        {{9, 1000}, -1},  {{2, 8200}, -1}, {{4, 6, 28, 28}, 1}, {{3, 16, 10, 10}, 1}};
  const std::vector<Number> formats = {FixedPoint{.wl = 8, .fl = 4},         formats::fp8_e4m3(),
                                       BlockFloatingPoint{.wl = 8, .dim = 0}, BlockFloatingPoint{.wl = 6, .dim = -1},
                                       BlockFloatingPoint{.wl = 8, .dim = 1}, MXFormat{},
                                       NVFP4Format{}};
  enum Kind { Bias, Relu, Gate, BiasRelu };
  const char* const kind_names[] = {"bias", "relu", "gate", "bias relu"};
  uint32_t seed = 300;
  for (const Case& c : cases)
    for (const Number& number : formats)
      for (Kind kind : {Bias, Relu, Gate, BiasRelu}) {
        const Shape& shape = c.shape;  // not structured bindings: clang 14 cannot capture those
        const int axis = c.axis;
        const Tensor x = mixed(shape, seed++);
        const Tensor gate = relu_output(shape, seed++);
        const Tensor bias = mixed({axis == 1 ? shape[1] : shape.back()}, seed++);
        const bool with_bias = kind == Bias || kind == BiasRelu;
        auto fusion_on = [&](bool gpu, bool misaligned) {
          quant::QuantizeFusion f;
          if (kind == Gate) f.gate = misaligned ? misaligned_on_gpu(gate) : gpu ? gate.to(kGpu) : gate;
          if (with_bias) {
            f.bias = gpu ? bias.to(kGpu) : bias;
            f.axis = axis;
          }
          f.relu = kind == Relu || kind == BiasRelu;
          return f;
        };
        for (Rounding r : kRoundings) {
          const std::string label = shape_str(shape) + " axis " + std::to_string(axis) + " " +
                                    qtorch::to_string(number) + " " + rounding_name(r) + " " + kind_names[kind];
          Generator gc(9), gg(9);
          gc.set_state(9, 55);
          gg.set_state(9, 55);
          Tensor mc, mg;
          QuantStats sc, sg;
          quant::StatsCounter cc, cg;
          const Tensor yc = quant::quantize_fused(x, fusion_on(false, false), number, r,
                                                  {.generator = &gc, .stats = &sc, .mask = &mc, .counter = &cc});
          const Tensor yg = quant::quantize_fused(x.to(kGpu), fusion_on(true, false), number, r,
                                                  {.generator = &gg, .stats = &sg, .mask = &mg, .counter = &cg});
          ASSERT_TRUE(yg.device().is_cuda()) << label;
          // A NaN input's sum with a bias is a NaN whose payload the devices' adders choose.
          parity::expect_same_bits(yc, yg, label, with_bias);
          parity::expect_same_bits(mc, mg, label + " mask");
          EXPECT_EQ(sc, sg) << label;
          EXPECT_EQ(cc.read(), cg.read()) << label;
          EXPECT_EQ(gc.offset(), gg.offset()) << label;
          // Not counted (the kernels' other path), and x and the gate from misaligned views.
          gg.set_state(9, 55);
          parity::expect_same_bits(
              yc, quant::quantize_fused(x.to(kGpu), fusion_on(true, false), number, r, {.generator = &gg}),
              label + " (not counted)", with_bias);
          gg.set_state(9, 55);
          parity::expect_same_bits(
              yc, quant::quantize_fused(misaligned_on_gpu(x), fusion_on(true, true), number, r, {.generator = &gg}),
              label + " (misaligned)", with_bias);
        }
      }
}

}  // namespace
