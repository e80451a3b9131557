// A test of one's own low-precision model with qtorch::testing: an MLP lowered with
// nn::make_low_precision, an error quantizer after every Linear with a loss-scaling backward
// hook and clamp-aware gradient zeroing. Copy it and replace the model and formats.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include <qtorch/qtorch.h>
#include <qtorch/testing.h>
#include <qtorch/testing/gtest.h>

namespace {

using namespace qtorch;
using qtorch::testing::TensorBitwiseEq;
using V = std::vector<Tensor>;

constexpr float kLossScale = 8.0f;  // a power of two: scaling is exact in float32

nn::ModulePtr mlp() {
  manual_seed(0);
  return std::make_shared<nn::Sequential>(nn::Sequential{
      std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(4, 2)});
}

// The model under test: a quantizer after every Linear.
nn::ModulePtr lower(const nn::Module& model, quant::QuantizerOptions options) {
  return nn::make_low_precision(model, {nn::LayerKind::Linear},
                                [options] { return std::make_shared<nn::Quantizer>(options); });
}

// grad_of over the input and every parameter of `model`, in named_parameters order.
std::vector<std::vector<float>> gradients(nn::Module& model, const Tensor& x, const Tensor& grad_output) {
  V inputs{x};
  for (auto& [name, p] : model.named_parameters()) inputs.push_back(p);
  return qtorch::testing::grad_of([&](const V& v) { return model(v[0]); }, inputs, grad_output);
}

// Placement: the hook multiplies the gradient by kLossScale at each quantizer it passes,
// so the last layer's parameters see kLossScale once, the first layer's and the input
// kLossScale^2, bit for bit (no forward or backward format: only the hooks act).
TEST(QuantizerSemantics, LossScaleHookRunsOncePerErrorQuantizer) {
  auto model = mlp();
  auto low = lower(*model, {.backward_hooks = {[](const Tensor& g) { return g * kLossScale; }}});
  const Tensor x = randn({5, 3}), g = randn({5, 2});
  const auto ref = gradients(*model, x, g), got = gradients(*low, x, g);
  ASSERT_EQ(got.size(), 5u);  // x, then weight and bias of both Linear layers
  const float scale_of[] = {kLossScale * kLossScale, kLossScale * kLossScale, kLossScale * kLossScale, kLossScale,
                            kLossScale};
  for (size_t k = 0; k < got.size(); ++k) {
    std::vector<float> want = ref[k];
    for (float& w : want) w *= scale_of[k];
    const qtorch::testing::CompareResult r = qtorch::testing::expect_bitwise_equal(got[k], want);
    EXPECT_TRUE(r) << "input " << k << ": " << r.message;
  }
}

// Clamp-aware zeroing: the output quantizer clamps to FixedPoint{4, 2} ([-2, 1.75], quantum
// 1/4); the last bias's gradient sums the incoming gradient (ones) over the outputs that
// stayed inside the range, 0 for those that clamped. Which clamp is decided from the last
// Linear's own output (a forward hook) rounded by hand, not by the quantizer under test.
TEST(QuantizerSemantics, ClampedOutputsGetNoGradient) {
  const FixedPoint fmt{.wl = 4, .fl = 2};
  auto model = mlp();
  auto low = lower(*model, {.forward_number = fmt, .forward_rounding = Rounding::Nearest,
                            .clamping_grad_zero = true});
  nn::ModulePtr last_linear;
  for (auto& [name, m] : low->named_modules())
    if (m->layer_kind() == nn::LayerKind::Linear) last_linear = m;
  {
    NoGradGuard no_grad;  // larger last-layer weights: some outputs leave the range
    for (auto& [name, p] : last_linear->named_parameters()) p.mul_(8.0f);
  }
  Tensor pre;  // the last Linear's output, before its quantizer
  last_linear->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor& out) {
    pre = out.detach().clone();
    return Tensor();
  });
  const Tensor x = randn({16, 3});
  const auto got = gradients(*low, x, ones({16, 2}));
  const std::vector<float> h = pre.to_vector();
  std::vector<float> want(2, 0.0f);
  int clamped = 0;
  for (size_t e = 0; e < h.size(); ++e) {
    const double rounded = std::nearbyint(h[e] * 4.0) / 4.0;  // nearest, ties to even
    const bool out = rounded > qtorch::testing::format_max(fmt) || rounded < -2.0;
    clamped += out;
    if (!out) want[e % 2] += 1.0f;
  }
  ASSERT_GT(clamped, 0) << "the test needs some clamped outputs";
  ASSERT_LT(clamped, static_cast<int>(h.size()));
  EXPECT_THAT(Tensor::from_vector(got[4], {2}), TensorBitwiseEq(Tensor::from_vector(want, {2})));
}

// With wide formats the lowered model is differentiable and its gradients check out; with a
// narrow forward format gradcheck says the check is meaningless instead of failing quietly.
TEST(QuantizerSemantics, GradcheckThroughTheLoweredModel) {
  auto model = mlp();
  auto wide = lower(*model, {.forward_number = FloatingPoint{.exp = 8, .man = 23},
                             .backward_number = FloatingPoint{.exp = 8, .man = 23},
                             .forward_rounding = Rounding::Nearest, .backward_rounding = Rounding::Nearest});
  qtorch::testing::expect_gradcheck([&](const V& v) { return (*wide)(v[0]); }, {randn({2, 3})});
  auto narrow = lower(*model, {.forward_number = FixedPoint{.wl = 8, .fl = 1}, .forward_rounding = Rounding::Nearest});
  const auto r = qtorch::testing::gradcheck([&](const V& v) { return (*narrow)(v[0]); }, {randn({2, 3})});
  EXPECT_FALSE(r.meaningful) << r.message;
}

// The error quantizer's stochastic rounding of the gradient: on the e5m2 grid, unbiased,
// reproducible from the seed (false-alarm probability 1e-6).
TEST(QuantizerSemantics, ErrorQuantizerRoundsStochastically) {
  auto q = std::make_shared<nn::Quantizer>(quant::QuantizerOptions{.backward_number = formats::fp8_e5m2()});
  const Tensor g = Tensor::from_vector({0.3f, -1.7f, 1e-5f, 1000.5f, 2.0f, -0.0f}, {2, 3});
  const auto r = qtorch::testing::check_stochastic_rounding_backward([&](const Tensor& t) { return (*q)(t); }, g,
                                                                     formats::fp8_e5m2());
  EXPECT_TRUE(r) << r.message;
}

}  // namespace
