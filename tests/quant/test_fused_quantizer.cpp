// The ops next to a quantizer taken into its node: quant::quantize_bias_add(x, bias, axis)
// against quantize() of the sum formed by hand, and quant::fused_quantizer with a bias and a
// ReLU against quantizer() after the layer's own bias add (an add node on the [rows, features]
// view for the last axis, the convolution's sum over the other axes for axis 1) and
// qtorch::relu after it: the same values, offsets, masks, counts, hooks and gradients.
// The ReLU's kernel-level forms are in test_quantize_relu.cpp.
// The GPU's one-pass form is checked against this CPU form in tests/cuda/quantize_parity_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "qtorch/autograd/activation.h"
#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/generator.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/quant/quantizer.h"
#include "qtorch/quant/stats_counter.h"
#include "tests/quant/quant_test_util.h"

namespace qtorch::quant::test {
namespace {


bool same_bits(const Tensor& a, const Tensor& b) {
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  // memcmp must not see the null data of an empty vector.
  return a.shape() == b.shape() && (va.empty() || std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0);
}

/// x + bias along `axis`, one float addition per element, in a plain loop.
Tensor sum_by_hand(const Tensor& x, const Tensor& bias, int axis) {
  std::vector<float> xv = x.contiguous().to_vector();
  const std::vector<float> bv = bias.to_vector();
  const int64_t a = axis < 0 ? axis + x.dim() : axis;
  size_t inner = 1;
  for (int64_t d = a + 1; d < x.dim(); ++d) inner *= static_cast<size_t>(x.size(d));
  for (size_t i = 0; i < xv.size(); ++i) xv[i] += bv[(i / inner) % bv.size()];
  return Tensor::from_vector(xv, x.shape());
}

TEST(QuantizeBiasAdd, SameBitsOffsetsMaskAndCountsAsQuantizingTheSum) {
  const std::vector<Number> formats = {FixedPoint{.wl = 8, .fl = 4}, FloatingPoint{.exp = 5, .man = 2},
                                       BlockFloatingPoint{.wl = 8, .dim = 0}, BlockFloatingPoint{.wl = 6, .dim = -1},
                                       MXFormat{}, NVFP4Format{}};
  // [rows, out] as a linear layer gives it, three dimensions, one row, a transposed x, a
  // convolution's [N, C, H, W] with the bias on the channels, and the bias on axis 0.
  struct Case {
    Shape shape;
    int axis;
  };
  const Case cases[] = {{{6, 40}, -1}, {{2, 3, 40}, -1}, {{1, 7}, 1}, {{9, 32}, -1}, {{3, 4, 5, 6}, 1}, {{5, 8}, 0}};
  for (const Number& number : formats)
    for (Rounding r : {Rounding::Stochastic, Rounding::Nearest})
      for (int s = 0; s < 6; ++s) {
        const Shape shape = cases[s].shape;
        const int axis = cases[s].axis;
        const std::string label =
            to_string(number) + " " + rounding_name(r) + " " + shape_str(shape) + " axis " + std::to_string(axis);
        Tensor x = Tensor::from_vector(spread_values(numel_of(shape), 11 + s, 12.0f), s != 3 ? shape : Shape{32, 9});
        if (s == 3) x = x.transpose(0, 1);
        const int64_t channels = shape[static_cast<size_t>(axis < 0 ? axis + static_cast<int>(shape.size()) : axis)];
        std::vector<float> bv = spread_values(channels, 5, 4.0f);
        bv[0] = 1e30f;  // saturates, or flushes the rest of its block
        const Tensor bias = Tensor::from_vector(bv, {channels});
        Generator g1(3), g2(3);
        g1.set_state(3, 500);
        g2.set_state(3, 500);
        StatsCounter c1, c2;
        QuantStats s1, s2;
        Tensor m1, m2;
        const Tensor want = quantize(sum_by_hand(x, bias, axis), number, r,
                                     {.generator = &g1, .stats = &s1, .mask = &m1, .counter = &c1});
        const Tensor got = quantize_bias_add(x, bias, axis, number, r,
                                             {.generator = &g2, .stats = &s2, .mask = &m2, .counter = &c2});
        EXPECT_TRUE(same_bits(got, want)) << label;
        EXPECT_TRUE(same_bits(m2, m1)) << label;
        EXPECT_EQ(s2, s1) << label;
        if (axis != 0) {  // on axis 0, 1e30 fills a whole row and nothing clamps or flushes
          EXPECT_GT(s1.clamped + s1.flushed, 0) << label;
        }
        EXPECT_EQ(c2.read(), c1.read()) << label;
        EXPECT_EQ(g2.offset(), g1.offset()) << label;
      }
}

TEST(QuantizeBiasAdd, ABadBiasIsAnErrorNamingTheExpectedShape) {
  const Tensor x = Tensor::from_vector(spread_values(12, 1, 2.0f), {3, 4});
  const Number f = FixedPoint{.wl = 8, .fl = 4};
  auto message = [&](const Tensor& bias) {
    try {
      quantize_bias_add(x, bias, -1, f);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(Tensor::from_vector({1, 2, 3}, {3})).find("expected a bias of shape [4] (x's axis 1)"),
            std::string::npos);
  EXPECT_NE(message(Tensor::from_vector(spread_values(4, 2, 1.0f), {1, 4})).find("got [1, 4]"), std::string::npos);
  EXPECT_NE(message(Tensor()).find("an undefined tensor"), std::string::npos);
  EXPECT_THROW(quantize_bias_add(Tensor(), Tensor::from_vector({1}, {1}), -1, f), Error);
  const Tensor b4 = Tensor::from_vector(spread_values(4, 2, 1.0f), {4});
  EXPECT_THROW(quantize_bias_add(x, b4, -1, BlockFloatingPoint{.wl = 8, .dim = 2}), Error);
  try {
    quantize_bias_add(x, b4, 2, f);
    ADD_FAILURE() << "axis 2 of a matrix was taken";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected an axis in [-2, 2) for x of shape [3, 4], got 2"), std::string::npos)
        << e.what();
  }
}

Tensor leaf(const Tensor& t) {
  Tensor x = t.clone();
  x.requires_grad_(true);
  return x;
}

struct QuantizerRun {
  Tensor y, x_grad, bias_grad, hook_saw;
  QuantStats forward, backward;
  uint64_t offset;
  int hook_calls;
  std::string node;
};

/// Which ops a run takes: a bias add before the quantizer (trained or fixed), a ReLU after
/// it, a backward hook (which records its input and scales it by 3); one fused node or the
/// ops one by one.
struct Ops {
  bool fused = false;
  bool bias = true;
  bool bias_grad = true;
  bool relu = false;
  bool hook = true;
};

/// The loss sum(y * w) through fused(x, {bias, relu}), or relu(plain(x + bias)), each part
/// as `ops` asks.
QuantizerRun run(const Ops& ops, const Tensor& x0, const Tensor& bias0, const QuantizerOptions& base) {
  auto g = std::make_shared<Generator>(17);
  auto forward = std::make_shared<StatsCounter>(), backward = std::make_shared<StatsCounter>();
  auto calls = std::make_shared<int>(0);
  auto saw = std::make_shared<Tensor>();
  QuantizerOptions o = base;
  o.generator = g;
  o.forward_counter = forward;
  o.backward_counter = backward;
  if (ops.hook)
    o.backward_hooks = {[calls, saw](const Tensor& grad) {
      ++*calls;
      *saw = grad.clone();
      return grad * 3.0f;
    }};
  const QuantizerForms q = quantizer_forms(o);
  Tensor x = leaf(x0), bias = ops.bias_grad ? leaf(bias0) : bias0.clone();
  Tensor y;
  if (ops.fused) {
    y = q.fused(x, {.bias = ops.bias ? bias : Tensor(), .axis = -1, .relu = ops.relu});
  } else {
    y = q.plain(ops.bias ? add(x, bias) : x);
    if (ops.relu) y = relu(y);
  }
  const std::string node = y.grad_fn_name();
  const Tensor w = Tensor::from_vector(spread_values(y.numel(), 23, 6.0f), y.shape());
  sum(mul(y, w)).backward();
  return {y.detach(),      x.grad(),          ops.bias && ops.bias_grad ? bias.grad() : Tensor(),
          *saw,            forward->read(),   backward->read(),
          g->offset(),     *calls,            node};
}

void expect_same_run(const QuantizerRun& got, const QuantizerRun& want, const std::string& label) {
  EXPECT_TRUE(same_bits(got.y, want.y)) << label;
  EXPECT_TRUE(same_bits(got.x_grad, want.x_grad)) << label;
  EXPECT_EQ(got.bias_grad.defined(), want.bias_grad.defined()) << label;
  if (got.bias_grad.defined()) {
    EXPECT_TRUE(same_bits(got.bias_grad, want.bias_grad)) << label;
  }
  EXPECT_EQ(got.hook_calls, want.hook_calls) << label;
  if (want.hook_calls > 0) {  // the hook saw the same gradient (after the ReLU's backward)
    EXPECT_TRUE(same_bits(got.hook_saw, want.hook_saw)) << label;
  }
  EXPECT_EQ(got.forward, want.forward) << label;
  EXPECT_EQ(got.backward, want.backward) << label;
  EXPECT_EQ(got.offset, want.offset) << label;
}

/// Option sets that exercise the node's paths: a clamp mask, block rows both ways, MX then
/// fixed point, the identity forward, and a gradient not quantized.
std::vector<QuantizerOptions> node_options() {
  return {
      {.forward_number = FixedPoint{.wl = 6, .fl = 3},
       .backward_number = FloatingPoint{.exp = 5, .man = 2},
       .clamping_grad_zero = true},
      {.forward_number = BlockFloatingPoint{.wl = 8, .dim = 0}, .backward_number = BlockFloatingPoint{.wl = 8, .dim = 0}},
      {.forward_number = MXFormat{}, .backward_number = FixedPoint{.wl = 8, .fl = 2}},
      {.backward_number = FixedPoint{.wl = 8, .fl = 5}},  // the identity forward
      {.forward_number = FixedPoint{.wl = 8, .fl = 4}},   // the gradient not quantized
  };
}

TEST(BiasAddQuantizer, SameValuesGradientsHooksAndCountsAsTheQuantizerAfterAnAdd) {
  const Tensor x0 = Tensor::from_vector(spread_values(5 * 64, 2, 10.0f), {5, 64});
  const Tensor bias0 = Tensor::from_vector(spread_values(64, 3, 2.0f), {64});
  const std::vector<QuantizerOptions> options = node_options();
  for (size_t i = 0; i < options.size(); ++i)
    for (bool bias_grad : {true, false}) {
      const std::string label = "options " + std::to_string(i) + (bias_grad ? ", bias trained" : ", bias fixed");
      const QuantizerRun want = run({.fused = false, .bias_grad = bias_grad}, x0, bias0, options[i]);
      const QuantizerRun got = run({.fused = true, .bias_grad = bias_grad}, x0, bias0, options[i]);
      EXPECT_EQ(want.node, "quantizer") << label;
      EXPECT_EQ(got.node, "quantizer_bias_add") << label;
      expect_same_run(got, want, label);
      EXPECT_EQ(got.hook_calls, 1) << label;
    }
}

// A ReLU after the quantizer, with and without a bias before it and a backward hook (without
// one, the ReLU's backward goes into the backward quantization's pass).
TEST(FusedQuantizerRelu, SameValuesGradientsHooksAndCountsAsTheQuantizerThenARelu) {
  const Tensor x0 = Tensor::from_vector(spread_values(6 * 32, 2, 10.0f), {6, 32});
  const Tensor bias0 = Tensor::from_vector(spread_values(32, 3, 2.0f), {32});
  const std::vector<QuantizerOptions> options = node_options();
  for (size_t i = 0; i < options.size(); ++i)
    for (bool bias : {false, true})
      for (bool hook : {false, true}) {
        const std::string label =
            "options " + std::to_string(i) + (bias ? ", bias" : "") + (hook ? ", hook" : "");
        const Ops ops{.bias = bias, .relu = true, .hook = hook};
        Ops fused = ops;
        fused.fused = true;
        const QuantizerRun want = run(ops, x0, bias0, options[i]);
        const QuantizerRun got = run(fused, x0, bias0, options[i]);
        EXPECT_EQ(want.node, "relu") << label;
        EXPECT_EQ(got.node, bias ? "quantizer_bias_add_relu" : "quantizer_relu") << label;
        expect_same_run(got, want, label);
      }
}

TEST(BiasAddQuantizer, WorkedExampleAndNoNodeWithoutGradients) {
  const FusedQuantizerFn fused = fused_quantizer({.forward_number = FixedPoint{.wl = 8, .fl = 2},
                                                  .backward_number = FixedPoint{.wl = 8, .fl = 4},
                                                  .forward_rounding = Rounding::Nearest,
                                                  .backward_rounding = Rounding::Nearest});
  auto q = [&](const Tensor& x, const Tensor& b, int axis) { return fused(x, {.bias = b, .axis = axis}); };
  // x + b = [[0.1 + 0.2, -1.4], [1.2, 2]] (each sum rounded to a float), to the nearest
  // multiple of 1/4: [[0.25, -1.5], [1.25, 2]]. The gradient goes to the grid of 1/16, and
  // b's is its sum over the two rows.
  Tensor x = leaf(Tensor::from_vector({0.1f, -1.4f, 1.0f, 2.0f}, {2, 2}));
  Tensor b = leaf(Tensor::from_vector({0.2f, 0.0f}, {2}));
  Tensor y = q(x, b, -1);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{0.25f, -1.5f, 1.25f, 2.0f}));
  y.backward(Tensor::from_vector({0.1f, 0.3f, -0.04f, 1.0f}, {2, 2}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0.125f, 0.3125f, -0.0625f, 1.0f}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{0.0625f, 1.3125f}));
  const Tensor plain = q(Tensor::from_vector({0.1f, -1.4f}, {1, 2}), Tensor::from_vector({0.2f, 0.0f}, {2}), -1);
  EXPECT_FALSE(plain.requires_grad());
  EXPECT_EQ(plain.to_vector(), (std::vector<float>{0.25f, -1.5f}));
  // No bias: the plain quantizer, x to the grid of 1/4.
  EXPECT_EQ(q(x, Tensor(), -1).to_vector(), (std::vector<float>{0.0f, -1.5f, 1.0f, 2.0f}));
  EXPECT_THROW(q(x, b, 2), Error);
}

// On a convolution's channels (axis 1 of [N, C, H, W]) the values and the input's gradient are
// those of the quantizer after the sum, and the bias's gradient is the convolution's own rule,
// ops::sum of the incoming gradient over axes 0, 2 and 3.
TEST(BiasAddQuantizer, OnTheChannelsTheBiasGradientIsTheConvolutionsSum) {
  const QuantizerOptions o{.forward_number = BlockFloatingPoint{.wl = 6, .dim = 0},
                           .backward_number = FixedPoint{.wl = 8, .fl = 3},
                           .forward_rounding = Rounding::Nearest,
                           .backward_rounding = Rounding::Nearest};
  const Tensor x0 = Tensor::from_vector(spread_values(2 * 3 * 4 * 5, 31, 6.0f), {2, 3, 4, 5});
  const Tensor b0 = Tensor::from_vector(spread_values(3, 32, 2.0f), {3});
  const Tensor w = Tensor::from_vector(spread_values(2 * 3 * 4 * 5, 33, 4.0f), {2, 3, 4, 5});
  Tensor x1 = leaf(x0), b1 = leaf(b0), x2 = leaf(x0), b2 = leaf(b0);
  const QuantizerForms q = quantizer_forms(o);
  Tensor fused = q.fused(x1, {.bias = b1, .axis = 1});
  Tensor separate = q.plain(add(x2, b2.reshape({3, 1, 1})));
  EXPECT_TRUE(same_bits(fused.detach(), separate.detach()));
  sum(mul(fused, w)).backward();
  sum(mul(separate, w)).backward();
  EXPECT_TRUE(same_bits(x1.grad(), x2.grad()));
  EXPECT_TRUE(same_bits(b1.grad(), ops::sum(x1.grad(), {0, 2, 3})));
  // The hand-checkable part: the gradient reaching x is w on the grid of 1/8.
  EXPECT_EQ(x1.grad().to_vector()[0], std::nearbyint(w.to_vector()[0] * 8.0f) / 8.0f);
}

}  // namespace
}  // namespace qtorch::quant::test
