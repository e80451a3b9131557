// The ReLU taken into the quantize passes on the GPU: quantize_fused with a ReLU after, with
// ReLU's backward before (the gate) and with a bias and a ReLU, against the CPU (the ops one
// by one there); and Linear -> Quantizer -> ReLU (and a convolution's) fused into one node
// against the three modules one by one on the GPU, with and without a backward hook (which
// keeps the ReLU's backward out of the backward quantization's pass). Outputs, masks, counts,
// generator offsets and gradients, bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "qtorch/autograd/reduce.h"
#include "qtorch/core/generator.h"
#include "qtorch/nn/nn.h"
#include "qtorch/nn/quantizer_module.h"
#include "qtorch/qtorch.h"
#include "qtorch/quant/quantize.h"
#include "tests/cuda/parity.h"

using namespace qtorch;
using parity::kGpu;

namespace {

const Rounding kRoundings[] = {Rounding::Stochastic, Rounding::Nearest, Rounding::TowardZero, Rounding::Down};

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

TEST(CudaQuantize, ReluAndGateInTheQuantizePassGiveTheCpuBits) {
  QTORCH_REQUIRE_CUDA();
  // Elementwise chunks (fixed, float, one-element blocks), rows from registers ([128, 256],
  // a convolution output with one block per sample of 6*28*28 elements), rows read twice
  // ([128, 10], [3, 7]), and layouts that run the ops one by one on the GPU too (MX, NVFP4,
  // rows past 8192 elements, blocks across rows).
  const Shape shapes[] = {{128, 256}, {128, 10}, {3, 7}, {9, 1000}, {2, 6, 28, 28}, {2, 8200}};
  const std::vector<Number> formats = {FixedPoint{.wl = 8, .fl = 4},         formats::fp8_e4m3(),
                                       BlockFloatingPoint{.wl = 8, .dim = 0}, BlockFloatingPoint{.wl = 6, .dim = -1},
                                       BlockFloatingPoint{.wl = 8, .dim = 1}, MXFormat{},
                                       NVFP4Format{}};
  enum Kind { Relu, Gate, BiasRelu };
  uint32_t seed = 300;
  for (const Shape& shape : shapes)
    for (const Number& number : formats)
      for (Kind kind : {Relu, Gate, BiasRelu}) {
        const Tensor x = mixed(shape, seed++);
        const Tensor gate = relu_output(shape, seed++);
        const int axis = shape.size() == 4 ? 1 : -1;
        const Tensor bias = mixed({axis == 1 ? shape[1] : shape.back()}, seed++);
        auto fusion_on = [&](bool gpu, bool misaligned) {
          quant::QuantizeFusion f;
          if (kind == Gate) f.gate = misaligned ? misaligned_on_gpu(gate) : gpu ? gate.to(kGpu) : gate;
          if (kind == BiasRelu) {
            f.bias = gpu ? bias.to(kGpu) : bias;
            f.axis = axis;
          }
          f.relu = kind != Gate;
          return f;
        };
        for (Rounding r : kRoundings) {
          const std::string label = shape_str(shape) + " " + qtorch::to_string(number) + " " + rounding_name(r) +
                                    (kind == Relu ? " relu" : kind == Gate ? " gate" : " bias relu");
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
          parity::expect_same_bits(yc, yg, label, kind == BiasRelu);
          parity::expect_same_bits(mc, mg, label + " mask");
          EXPECT_EQ(sc, sg) << label;
          EXPECT_EQ(cc.read(), cg.read()) << label;
          EXPECT_EQ(gc.offset(), gg.offset()) << label;
          // Not counted (the kernels' other path), and x and the gate from misaligned views.
          gg.set_state(9, 55);
          parity::expect_same_bits(
              yc, quant::quantize_fused(x.to(kGpu), fusion_on(true, false), number, r, {.generator = &gg}),
              label + " (not counted)", kind == BiasRelu);
          gg.set_state(9, 55);
          parity::expect_same_bits(
              yc, quant::quantize_fused(misaligned_on_gpu(x), fusion_on(true, true), number, r, {.generator = &gg}),
              label + " (misaligned)", kind == BiasRelu);
        }
      }
}

TEST(CudaQuantize, LinearQuantizerReluFusedGivesTheBitsOfTheModulesOneByOne) {
  QTORCH_REQUIRE_CUDA();
  // nn::Sequential{layer, Quantizer, ReLU} on the GPU: one node whose forward pass adds the
  // bias and applies the ReLU inside the quantize pass, and whose backward pass (without
  // hooks) applies the ReLU's backward inside the backward quantization's, against the three
  // modules one by one (forward hooks keep them apart). Block8 rows and fixed point, after a
  // linear layer and after LeNet's first convolution, with and without a backward hook.
  for (bool conv : {false, true})
  for (bool hook : {false, true})
  for (const Number& number : std::vector<Number>{BlockFloatingPoint{.wl = 8, .dim = 0}, FixedPoint{.wl = 8, .fl = 4}}) {
    manual_seed(12);
    nn::ModulePtr layer = conv ? nn::ModulePtr(std::make_shared<nn::Conv2d>(1, 6, 5, nn::Conv2dOptions{.padding = 2}))
                               : nn::ModulePtr(std::make_shared<nn::Linear>(300, 256));
    auto model = [&](const nn::ModulePtr& l) {
      quant::QuantizerOptions o{.forward_number = number, .backward_number = number,
                                .generator = std::make_shared<Generator>(77)};
      if (hook) o.backward_hooks = {[](const Tensor& g) { return g * 2.0f; }};
      return std::make_shared<nn::Sequential>(
          std::vector<nn::ModulePtr>{l, std::make_shared<nn::Quantizer>(o), std::make_shared<nn::ReLU>()});
    };
    auto fused = model(layer), separate = model(layer->clone());
    for (size_t i = 0; i < separate->size(); ++i)
      (*separate)[i]->register_forward_hook([](nn::Module&, const Tensor&, const Tensor&) { return Tensor(); });
    fused->to(kGpu);
    separate->to(kGpu);
    const Tensor x = parity::random_cpu(conv ? Shape{16, 1, 28, 28} : Shape{64, 300}, 13).to(kGpu);
    const Tensor w = parity::random_cpu(conv ? Shape{16, 6, 28, 28} : Shape{64, 256}, 14).to(kGpu);
    Tensor x1 = x.clone().requires_grad_(true), x2 = x.clone().requires_grad_(true);
    Tensor y1 = (*fused)(x1), y2 = (*separate)(x2);
    EXPECT_EQ(y1.grad_fn_name(), "quantizer_bias_add_relu");
    EXPECT_EQ(y2.grad_fn_name(), "relu");
    const std::string label =
        (conv ? "conv, " : "linear, ") + qtorch::to_string(number) + (hook ? ", relu, hooked" : ", relu");
    parity::expect_same_bits(y2, y1, label + " forward");
    sum(y1 * w).backward();
    sum(y2 * w).backward();
    parity::expect_same_bits(x2.grad(), x1.grad(), label + " input gradient");
    const std::vector<Tensor> p1 = fused->parameters(), p2 = separate->parameters();
    for (size_t i = 0; i < p1.size(); ++i)
      parity::expect_same_bits(p2[i].grad(), p1[i].grad(), label + " parameter gradient " + std::to_string(i));
  }
}

}  // namespace
