// Consecutive modules of a Sequential fused into one node (Module::forward_fused, nn/fusion.h):
// a Linear or Conv2d followed by a quantizer runs its bias add inside the quantizer's node,
// and a quantizer followed by a ReLU takes the ReLU in. The same outputs and gradients, bit
// for bit, as the modules one after the other, which is what a forward hook on each restores.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "qtorch/autograd/activation.h"
#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/nn/nn.h"
#include "qtorch/nn/quantizer_module.h"
#include "qtorch/quant/mac.h"

using namespace qtorch;

namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  return a.shape() == b.shape() && (va.empty() || std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0);
}

std::shared_ptr<nn::Quantizer> quantizer() {
  return std::make_shared<nn::Quantizer>(quant::QuantizerOptions{
      .forward_number = FixedPoint{.wl = 6, .fl = 3},
      .backward_number = FloatingPoint{.exp = 5, .man = 2},
      .clamping_grad_zero = true});
}

/// A hook that changes nothing; registered on a module, it keeps the pair from fusing.
int64_t watch(nn::Module& m) {
  return m.register_forward_hook([](nn::Module&, const Tensor&, const Tensor&) { return Tensor(); });
}

struct Pass {
  Tensor y, x_grad;
  std::vector<Tensor> param_grads;
  std::string node;
};

/// One forward and backward pass of `model` on x, with the default generator seeded.
Pass pass(nn::Module& model, const Tensor& x0) {
  manual_seed(42);
  model.zero_grad();
  Tensor x = x0.clone();
  x.requires_grad_(true);
  Tensor y = model(x);
  const std::string node = y.grad_fn_name();
  const Tensor w = randn(y.shape()) * 4.0f;
  sum(mul(y, w)).backward();
  Pass p{y.detach(), x.grad(), {}, node};
  for (const Tensor& param : model.parameters()) p.param_grads.push_back(param.grad());
  return p;
}

void expect_same(const Pass& got, const Pass& want, const std::string& label) {
  EXPECT_TRUE(same_bits(got.y, want.y)) << label;
  EXPECT_TRUE(same_bits(got.x_grad, want.x_grad)) << label;
  ASSERT_EQ(got.param_grads.size(), want.param_grads.size()) << label;
  for (size_t i = 0; i < got.param_grads.size(); ++i)
    EXPECT_TRUE(same_bits(got.param_grads[i], want.param_grads[i])) << label << ", parameter " << i;
}

TEST(BiasAddFusion, LinearThenQuantizerIsOneNodeWithTheBitsOfTwo) {
  for (const Shape& shape : {Shape{5, 6}, Shape{2, 3, 6}}) {
    manual_seed(1);
    auto linear = std::make_shared<nn::Linear>(6, 9);
    nn::Sequential fused({linear, quantizer()});
    nn::ModulePtr copy = fused.clone();
    auto& separate = dynamic_cast<nn::Sequential&>(*copy);
    watch(*separate[0]);
    const Tensor x = randn(shape) * 3.0f;
    const Pass got = pass(fused, x), want = pass(separate, x);
    EXPECT_EQ(got.node, "quantizer_bias_add");
    EXPECT_EQ(want.node, "quantizer");
    expect_same(got, want, shape_str(shape));
  }
}

TEST(BiasAddFusion, ConvolutionThenQuantizerAddsTheBiasOnTheChannels) {
  // The CPU's direct kernels (LeNet's shapes) and im2col (a 3x3 convolution with 40
  // channels, past the direct rule), and QConv2d's chains.
  for (int layer = 0; layer < 3; ++layer) {
    manual_seed(5);
    nn::ModulePtr conv;
    Shape shape;
    if (layer == 0) {
      conv = std::make_shared<nn::Conv2d>(1, 6, 5, nn::Conv2dOptions{.padding = 2});
      shape = {3, 1, 28, 28};
    } else if (layer == 1) {
      conv = std::make_shared<nn::Conv2d>(40, 70, 3, nn::Conv2dOptions{.padding = 1});
      shape = {2, 40, 6, 6};
    } else {
      conv = std::make_shared<nn::QConv2d>(2, 4, 3, quant::parse_mac("acc=fp16,acc_rounding=stochastic"),
                                           quant::parse_mac("acc=fp16"));
      shape = {2, 2, 7, 7};
    }
    auto block8 = std::make_shared<nn::Quantizer>(quant::QuantizerOptions{
        .forward_number = BlockFloatingPoint{.wl = 8, .dim = 0}, .backward_number = BlockFloatingPoint{.wl = 8, .dim = 0}});
    nn::Sequential fused({conv, block8});
    nn::ModulePtr copy = fused.clone();
    auto& separate = dynamic_cast<nn::Sequential&>(*copy);
    watch(*separate[0]);
    const Tensor x = randn(shape) * 2.0f;
    const Pass got = pass(fused, x), want = pass(separate, x);
    EXPECT_EQ(got.node, "quantizer_bias_add") << layer;
    EXPECT_EQ(want.node, "quantizer") << layer;
    expect_same(got, want, "convolution " + std::to_string(layer));
  }
}

TEST(BiasAddFusion, HooksSeeEachModulesOwnOutput) {
  manual_seed(2);
  auto linear = std::make_shared<nn::Linear>(4, 3);
  auto q = quantizer();
  nn::Sequential model({linear, q});
  Tensor seen;
  linear->register_forward_hook([&seen](nn::Module&, const Tensor&, const Tensor& out) {
    seen = out.detach();
    return Tensor();
  });
  const Tensor x = randn({2, 4});
  const Tensor y = model(x);
  EXPECT_EQ(y.grad_fn_name(), "quantizer");
  // The hook saw x W^T + b, not the product alone.
  EXPECT_TRUE(same_bits(seen, linear->forward(x).detach()));
  // A hook on the quantizer keeps the pair apart too.
  nn::Sequential other({std::make_shared<nn::Linear>(4, 3), quantizer()});
  watch(*other[1]);
  EXPECT_EQ(other(x).grad_fn_name(), "quantizer");
}

TEST(BiasAddFusion, QLinearHandsOverItsLowPrecisionProduct) {
  manual_seed(3);
  auto layer = std::make_shared<nn::QLinear>(20, 7, quant::parse_mac("acc=fp16,acc_rounding=nearest_even"),
                                             quant::parse_mac("acc=fp16"));
  nn::Sequential fused({layer, quantizer()});
  nn::ModulePtr copy = fused.clone();
  auto& separate = dynamic_cast<nn::Sequential&>(*copy);
  watch(*separate[0]);
  const Tensor x = randn({4, 20}) * 20.0f;
  const Pass got = pass(fused, x), want = pass(separate, x);
  EXPECT_EQ(got.node, "quantizer_bias_add");
  expect_same(got, want, "QLinear");
  // The product is QLinear's: with fp16 sums it differs from the float32 Linear's.
  nn::Linear plain(20, 7);
  plain.weight().copy_(layer->weight());
  EXPECT_FALSE(same_bits(layer->product(x).detach(), plain.product(x).detach()));
}

TEST(BiasAddFusion, NothingToFuseWithoutABiasOrAQuantizerNext) {
  manual_seed(4);
  nn::Sequential no_bias({std::make_shared<nn::Linear>(4, 3, nn::LinearOptions{.bias = false}), quantizer()});
  const Tensor x = randn({2, 4});
  EXPECT_EQ(no_bias(x).grad_fn_name(), "quantizer");
  nn::Sequential relu_next({std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::ReLU>()});
  EXPECT_EQ(relu_next(x).grad_fn_name(), "relu");
}

std::shared_ptr<nn::Quantizer> block8() {
  return std::make_shared<nn::Quantizer>(quant::QuantizerOptions{
      .forward_number = BlockFloatingPoint{.wl = 8, .dim = 0}, .backward_number = BlockFloatingPoint{.wl = 8, .dim = 0}});
}

/// A copy of `model` with a no-op forward hook on every child: nothing fuses.
nn::ModulePtr separate_copy(const nn::Sequential& model) {
  nn::ModulePtr copy = model.clone();
  auto& seq = dynamic_cast<nn::Sequential&>(*copy);
  for (size_t i = 0; i < seq.size(); ++i) watch(*seq[i]);
  return copy;
}

TEST(ReluFusion, LinearQuantizerReluIsOneNodeWithTheBitsOfThree) {
  for (int kind = 0; kind < 2; ++kind) {
    manual_seed(7);
    auto q = [&] { return kind == 0 ? nn::ModulePtr(quantizer()) : nn::ModulePtr(block8()); };
    auto relu = [] { return std::make_shared<nn::ReLU>(); };
    nn::Sequential mlp({std::make_shared<nn::Linear>(6, 9), q(), relu(), std::make_shared<nn::Linear>(9, 5), q(),
                        relu(), std::make_shared<nn::Linear>(5, 3), q()});
    nn::ModulePtr separate = separate_copy(mlp);
    const Tensor x = randn({4, 6}) * 3.0f;
    const Pass got = pass(mlp, x), want = pass(*separate, x);
    EXPECT_EQ(got.node, "quantizer_bias_add");
    EXPECT_EQ(want.node, "quantizer");
    expect_same(got, want, kind == 0 ? "fixed, clamp mask" : "block8");
    // The first three modules alone: one node.
    nn::Sequential first({mlp[0], mlp[1], mlp[2]});
    EXPECT_EQ(pass(first, x).node, "quantizer_bias_add_relu");
  }
}

TEST(ReluFusion, QuantizerThenReluWithoutALayerBefore) {
  manual_seed(8);
  nn::Sequential model({std::make_shared<nn::Tanh>(), quantizer(), std::make_shared<nn::ReLU>()});
  nn::ModulePtr separate = separate_copy(model);
  const Tensor x = randn({3, 7}) * 2.0f;
  const Pass got = pass(model, x), want = pass(*separate, x);
  EXPECT_EQ(got.node, "quantizer_relu");
  EXPECT_EQ(want.node, "relu");
  expect_same(got, want, "tanh, quantizer, relu");
}

TEST(ReluFusion, ConvolutionQuantizerReluPool) {
  manual_seed(9);
  nn::Sequential model({std::make_shared<nn::Conv2d>(1, 6, 5, nn::Conv2dOptions{.padding = 2}), block8(),
                        std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2)});
  nn::ModulePtr separate = separate_copy(model);
  const Tensor x = randn({3, 1, 12, 12}) * 2.0f;
  const Pass got = pass(model, x), want = pass(*separate, x);
  expect_same(got, want, "conv, block8, relu, pool");
  nn::Sequential three({model[0], model[1], model[2]});
  EXPECT_EQ(pass(three, x).node, "quantizer_bias_add_relu");
}

TEST(ReluFusion, AReluWithHooksOrASubclassRunsOnItsOwn) {
  manual_seed(10);
  auto linear = std::make_shared<nn::Linear>(4, 3);
  auto q = quantizer();
  auto relu = std::make_shared<nn::ReLU>();
  nn::Sequential model({linear, q, relu});
  Tensor seen_in, seen_out;
  relu->register_forward_hook([&](nn::Module&, const Tensor& in, const Tensor& out) {
    seen_in = in.detach();
    seen_out = out.detach();
    return Tensor();
  });
  const Tensor x = randn({2, 4}) * 3.0f;
  manual_seed(11);  // the quantizer rounds stochastically with the default generator
  const Tensor y = model(x);
  EXPECT_EQ(y.grad_fn_name(), "relu");
  // The ReLU saw the quantizer's own output (the Linear and the quantizer still one node).
  manual_seed(11);
  EXPECT_TRUE(same_bits(seen_in, q->forward(linear->forward(x)).detach()));
  EXPECT_TRUE(same_bits(seen_out, y.detach()));
  // A ReLU subclass may compute something else: it is not taken in.
  struct Doubled : nn::ReLU {
    Tensor forward(const Tensor& in) override { return mul(in, 2.0f); }
  };
  nn::Sequential other({quantizer(), std::make_shared<Doubled>()});
  const Tensor z = randn({2, 4});
  manual_seed(12);
  const Tensor got = other(z);
  manual_seed(12);
  EXPECT_TRUE(same_bits(got.detach(), mul(quantizer()->forward(z), 2.0f).detach()));
}

// A subclass may override forward; the fused forms would skip it, so a subclass of a layer or
// of a quantizer runs through its own forward (QLinear and QConv2d, whose forward is their
// product plus the bias, still fuse: BiasAddFusion.QLinear... and .Convolution...).
TEST(ReluFusion, SubclassesThatOverrideForwardAreNotFusedPast) {
  struct DoubledLinear : nn::Linear {
    DoubledLinear() : nn::Linear(4, 3) {}
    Tensor forward(const Tensor& in) override { return mul(nn::Linear::forward(in), 2.0f); }
  };
  struct ShiftedQuantizer : nn::Quantizer {
    ShiftedQuantizer() : nn::Quantizer(quant::QuantizerOptions{.forward_number = FixedPoint{.wl = 8, .fl = 2},
                                                               .forward_rounding = Rounding::Nearest}) {}
    Tensor forward(const Tensor& in) override { return nn::Quantizer::forward(in) - 1.0f; }
  };
  manual_seed(13);
  auto layer = std::make_shared<DoubledLinear>();
  auto q = std::make_shared<ShiftedQuantizer>();
  nn::Sequential model({layer, q, std::make_shared<nn::ReLU>()});
  const Tensor x = randn({5, 4}) * 3.0f;
  const Tensor want = relu(q->forward(layer->forward(x)));
  const Tensor got = model(x);
  EXPECT_EQ(got.grad_fn_name(), "relu");
  EXPECT_TRUE(same_bits(got.detach(), want.detach()));
  // A plain Linear before the subclassed quantizer: the quantizer's own forward runs too.
  auto linear = std::make_shared<nn::Linear>(4, 3);
  auto shifted = std::make_shared<ShiftedQuantizer>();
  nn::Sequential other({linear, shifted});
  const Tensor y = other(x);
  EXPECT_NE(y.grad_fn_name(), "quantizer_bias_add");
  EXPECT_TRUE(same_bits(y.detach(), shifted->forward(linear->forward(x)).detach()));
}

}  // namespace
