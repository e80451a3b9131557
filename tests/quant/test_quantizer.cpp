// The quantizer graph op: forward and backward formats, hook order, the clamp mask, the
// node inside a graph, and the options refused when the quantizer is made.
#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/error.h"
#include "qtorch/core/tensor.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/quant/quantizer.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

Tensor leaf(const std::vector<float>& v) {
  Tensor x = T(v);
  x.requires_grad_(true);
  return x;
}

TEST(Quantizer, ForwardAndBackwardFormatsBothAct) {
  auto q = quantizer({.forward_number = FixedPoint{.wl = 8, .fl = 2},
                      .backward_number = FixedPoint{.wl = 8, .fl = 4},
                      .forward_rounding = Rounding::Nearest,
                      .backward_rounding = Rounding::Nearest});
  Tensor x = leaf({0.1f, 0.33f, -1.4f});
  Tensor y = q(x);
  expect_values(y.to_vector(), {0.0f, 0.25f, -1.5f});
  EXPECT_EQ(y.grad_fn_name(), "quantizer");
  y.backward(T({0.1f, 0.3f, -0.04f}));
  // gradient quantized to fl = 4 (1/16), not to the forward's fl = 2
  expect_values(x.grad().to_vector(), {0.125f, 0.3125f, -0.0625f});
}

TEST(Quantizer, NoNodeWithoutGradAndIdentityForward) {
  auto q = quantizer(
      {.forward_number = FixedPoint{.wl = 8, .fl = 2}, .forward_rounding = Rounding::Nearest});
  Tensor y = q(T({0.3f}));
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.to_vector()[0], 0.25f);
  auto id = quantizer({});
  Tensor x = leaf({0.3f, -7.1f});
  Tensor z = id(x);
  expect_values(z.to_vector(), {0.3f, -7.1f});
  z.backward(T({1.5f, 2.0f}));
  expect_values(x.grad().to_vector(), {1.5f, 2.0f});
}

// Hooks run before backward quantization: Q(4g) differs from 4 Q(g).
TEST(Quantizer, HooksBeforeBackwardQuantization) {
  auto times4 = [](const Tensor& g) { return g * 4.0f; };
  auto q = quantizer({.backward_number = FixedPoint{.wl = 8, .fl = 4},
                      .backward_rounding = Rounding::Nearest,
                      .backward_hooks = {times4}});
  Tensor x = leaf({1.0f});
  q(x).backward(T({0.1f}));
  EXPECT_EQ(x.grad().to_vector()[0], 0.375f);  // Q(0.4); hook after Q would give 0.5
}

// Differences from the reference, which applies hooks only when clamping_grad_zero is on
// and a backward number is set, and skips the mask when the backward number is empty.
TEST(Quantizer, HooksAndMaskAlwaysApplyUnlikeReference) {
  auto times2 = [](const Tensor& g) { return g * 2.0f; };
  // clamping_grad_zero off, no backward number: the reference would ignore the hook
  auto q1 = quantizer({.forward_number = FixedPoint{.wl = 5, .fl = 4}, .backward_hooks = {times2}});
  Tensor x1 = leaf({0.5f, 3.0f});
  q1(x1).backward(T({1.0f, 1.0f}));
  expect_values(x1.grad().to_vector(), {2.0f, 2.0f});  // reference: {1, 1}
  // clamping_grad_zero on, no backward number: the reference would not apply the mask
  auto q2 = quantizer({.forward_number = FixedPoint{.wl = 5, .fl = 4},
                       .forward_rounding = Rounding::Nearest,
                       .clamping_grad_zero = true,
                       .backward_hooks = {times2}});
  Tensor x2 = leaf({0.5f, 3.0f});
  q2(x2).backward(T({1.0f, 1.0f}));
  expect_values(x2.grad().to_vector(), {2.0f, 0.0f});  // reference: {1, 1}
}

TEST(Quantizer, ClampMaskZeroesClampedGradients) {
  auto q = quantizer({.forward_number = FixedPoint{.wl = 5, .fl = 4},
                      .backward_number = FixedPoint{.wl = 5, .fl = 4},
                      .forward_rounding = Rounding::Nearest,
                      .backward_rounding = Rounding::Nearest,
                      .clamping_grad_zero = true});
  Tensor x = leaf({-1.0f, -0.6f, 0.0f, 1.0f});
  q(x).backward(T({1.0f, 1.0f, 1.0f, 1.0f}));
  expect_values(x.grad().to_vector(), {0.9375f, 0.9375f, 0.9375f, 0.0f});
  // a saturating float format: the mask is the saturated elements
  auto qf = quantizer({.forward_number = FloatingPoint{.exp = 4, .man = 3},
                       .forward_rounding = Rounding::Nearest,
                       .clamping_grad_zero = true});
  Tensor xf = leaf({1.0f, 1000.0f, -500.0f, 479.0f});
  qf(xf).backward(T({1.0f, 1.0f, 1.0f, 1.0f}));
  expect_values(xf.grad().to_vector(), {1.0f, 0.0f, 0.0f, 1.0f});
}

// The reference zeroes with masked_fill(mask, 0): +0 wherever the mask is set, whatever the
// gradient holds there (a negative value, inf, NaN), not g * (1 - mask) (-0, NaN).
TEST(Quantizer, ClampMaskGivesPositiveZeroWhateverTheGradientHolds) {
  const std::vector<float> x_values = {1.0f, 3.0f, -2.0f, 0.5f, -1.0f, -7.0f};  // clamped: 0, 1, 2, 5
  const std::vector<float> grads = {-1.0f, kInf, kNaN, -0.25f, -kInf, -0.0625f};
  for (const bool with_backward_number : {false, true}) {
    QuantizerOptions o{.forward_number = FixedPoint{.wl = 5, .fl = 4},
                       .forward_rounding = Rounding::Nearest,
                       .backward_rounding = Rounding::Nearest,
                       .clamping_grad_zero = true};
    // fixed 8,4 maps inf to 7.9375 and keeps NaN; the unclamped -0.25 and -inf become -0.25, -8
    if (with_backward_number) o.backward_number = FixedPoint{.wl = 8, .fl = 4};
    Tensor x = leaf(x_values);
    quantizer(o)(x).backward(T(grads));
    const std::vector<float> got = x.grad().to_vector();
    const std::vector<float> want = {0.0f, 0.0f, 0.0f, -0.25f, with_backward_number ? -8.0f : -kInf, 0.0f};
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_EQ(bits_of(got[i]), bits_of(want[i]))
          << "element " << i << " (backward number: " << with_backward_number << "): got " << got[i];
  }
}

TEST(Quantizer, NodeInTheMiddleOfAGraph) {
  auto q = quantizer(
      {.forward_number = FixedPoint{.wl = 8, .fl = 3}, .forward_rounding = Rounding::Nearest});
  Tensor x = leaf({0.3f, -0.7f, 1.1f});
  Tensor y = q(x * 2.0f);  // 0.6 -> 0.625, -1.4 -> -1.375, 2.2 -> 2.25
  Tensor loss = sum(y * y);
  loss.backward();
  // d/dx sum(Q(2x)^2) with a straight-through Q = 2 * 2 * Q(2x)
  expect_values(x.grad().to_vector(), {2.5f, -5.5f, 9.0f});
}

TEST(Quantizer, StochasticUsesItsOwnGenerator) {
  QuantizerOptions o{.forward_number = FloatingPoint{.exp = 4, .man = 1},
                     .generator = std::make_shared<Generator>(77)};
  auto q1 = quantizer(o);
  o.generator = std::make_shared<Generator>(77);
  auto q2 = quantizer(o);
  Tensor x = linspace(-2.0f, 2.0f, 999);
  EXPECT_EQ(q1(x).to_vector(), q2(x).to_vector());
}

TEST(Quantizer, InvalidCombinationsThrowWhenMade) {
  auto expect_refused = [](QuantizerOptions o, const std::string& part) {
    try {
      quantizer(std::move(o));
      ADD_FAILURE() << "expected qtorch::Error containing " << part;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_refused({.forward_number = BlockFloatingPoint{.wl = 8}, .clamping_grad_zero = true},
                 "BlockFloatingPoint(wl=8, dim=-1)");
  expect_refused(
      {.forward_number = FixedPoint{.wl = 8, .fl = 4, .clamp = false}, .clamping_grad_zero = true},
      "clamp=false");
  expect_refused({.clamping_grad_zero = true}, "got none");
  expect_refused({.forward_number = formats::fp16(), .clamping_grad_zero = true}, "saturate=false");
  expect_refused({.forward_number = FixedPoint{.wl = 0, .fl = 4}}, "wl >= 1");
  expect_refused({.backward_number = FloatingPoint{.exp = 9, .man = 2}}, "2 <= exp <= 8");
}

}  // namespace
}  // namespace qtorch::quant::test

#include "qtorch/nn/quantizer_module.h"

namespace qtorch::quant::test {
namespace {

TEST(QuantizerModule, SameAsFunctionAndPrints) {
  auto m = std::make_shared<nn::Quantizer>(
      QuantizerOptions{.forward_number = FixedPoint{.wl = 8, .fl = 2},
                       .backward_number = BlockFloatingPoint{.wl = 8},
                       .forward_rounding = Rounding::Nearest,
                       .clamping_grad_zero = true});
  Tensor x = leaf({0.1f, 0.33f, 100.0f});
  Tensor y = (*m)(x);
  expect_values(y.to_vector(), {0.0f, 0.25f, 31.75f});
  y.backward(T({1.0f, 1.0f, 1.0f}));
  expect_values(x.grad().to_vector(), {1.0f, 1.0f, 0.0f});
  EXPECT_EQ(
      m->repr(),
      "Quantizer(forward=fixed:8:2 nearest, backward=block:8:-1 stochastic, clamping_grad_zero)");
  EXPECT_TRUE(m->parameters().empty());
  EXPECT_THROW(nn::Quantizer(QuantizerOptions{.forward_number = BlockFloatingPoint{.wl = 8},
                                              .clamping_grad_zero = true}),
               Error);
}

}  // namespace
}  // namespace qtorch::quant::test

namespace qtorch::quant::test {
namespace {

TEST(Quantizer, ReportsClampedAndFlushedCountsInBothDirections) {
  auto forward = std::make_shared<StatsCounter>(), backward = std::make_shared<StatsCounter>();
  QuantizerFn q = quantizer(QuantizerOptions{
      .forward_number = FixedPoint{.wl = 5, .fl = 4},
      .backward_number = FixedPoint{.wl = 5, .fl = 4},
      .forward_rounding = Rounding::Nearest,
      .backward_rounding = Rounding::Nearest,
      .forward_counter = forward,
      .backward_counter = backward});
  // Forward: 1 rounds to 1 > t_max = 0.9375 (clamped); 0.01 rounds to 0 (flushed).
  Tensor x = leaf({-1.0f, -0.6f, 0.0f, 1.0f, 0.01f});
  Tensor y = q(x);
  EXPECT_EQ(forward->read(), (QuantStats{.clamped = 1, .flushed = 1, .numel = 5}));
  EXPECT_EQ(backward->read(), (QuantStats{.clamped = 0, .flushed = 0, .numel = 0}));
  // Backward: 3 and -5 saturate, 0.02 flushes to zero.
  y.backward(T({3.0f, -5.0f, 0.02f, 0.5f, 0.0f}));
  EXPECT_EQ(backward->read(), (QuantStats{.clamped = 2, .flushed = 1, .numel = 5}));
  expect_values(x.grad().to_vector(), {0.9375f, -1.0f, 0.0f, 0.5f, 0.0f});
  // A second call adds to the totals; a paused counter adds nothing.
  q(leaf({2.0f}));
  forward->pause(true);
  q(leaf({2.0f, 3.0f}));
  EXPECT_EQ(forward->read(), (QuantStats{.clamped = 2, .flushed = 1, .numel = 6}));
}

}  // namespace
}  // namespace qtorch::quant::test
