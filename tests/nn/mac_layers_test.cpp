// QLinear, QConv2d and use_mac: the layers' products are qmatmul chains, each output over
// its receptive field in channel-major order; gradients; swapping layers in a copy.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "qtorch/core/error.h"
#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/nn/nn.h"
#include "qtorch/quant/qconv2d.h"
#include "qtorch/quant/mac.h"
#include "qtorch/testing.h"

using namespace qtorch;

namespace {

quant::MacOptions mac(const std::string& text) { return quant::parse_mac(text); }

// One chain: the dot product of two vectors with `o`, through qmatmul on [1, K] x [K, 1].
float chain(const std::vector<float>& a, const std::vector<float>& b, const quant::MacOptions& o) {
  const int64_t k = static_cast<int64_t>(a.size());
  return quant::qmatmul_forward(Tensor::from_vector(a, {1, k}), Tensor::from_vector(b, {k, 1}), o).to_vector()[0];
}

TEST(QLinear, OutputIsOneChainPerElementPlusBias) {
  manual_seed(1);
  const quant::MacOptions o = mac("acc=fp16,acc_rounding=nearest_even");
  nn::QLinear layer(7, 3, o, std::nullopt);
  const Tensor x = randn({2, 7}) * 40.0f;  // large enough for fp16 sums to round
  const std::vector<float> y = layer(x).to_vector(), xv = x.to_vector(), w = layer.weight().to_vector(),
                           b = layer.bias().to_vector();
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      const std::vector<float> row(xv.begin() + i * 7, xv.begin() + i * 7 + 7), col(w.begin() + j * 7, w.begin() + j * 7 + 7);
      EXPECT_EQ(y[i * 3 + j], chain(row, col, o) + b[j]) << i << " " << j;
    }
  EXPECT_EQ(layer.repr(), "QLinear(7 -> 3, forward=acc=fp16,acc_rounding=nearest_even, backward=fp32)");
}

TEST(QConv2d, EachOutputIsTheChainOverItsChannelMajorReceptiveField) {
  manual_seed(2);
  const quant::MacOptions o = mac("acc=float:5:4,acc_rounding=toward_zero");  // order matters for these
  nn::QConv2d conv(2, 3, 3, o, std::nullopt, nn::Conv2dOptions{.stride = 2, .padding = 1});
  const Tensor x = randn({2, 2, 5, 6}) * 3.0f;
  const Tensor y = conv(x);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 3, 3}));
  const std::vector<float> xv = x.to_vector(), w = conv.weight().to_vector(), b = conv.bias().to_vector(),
                           yv = y.to_vector();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t oc = 0; oc < 3; ++oc)
      for (int64_t oh = 0; oh < 3; ++oh)
        for (int64_t ow = 0; ow < 3; ++ow) {
          std::vector<float> field, weights;  // (c, kh, kw) order, padding as zeros
          for (int64_t c = 0; c < 2; ++c)
            for (int64_t kh = 0; kh < 3; ++kh)
              for (int64_t kw = 0; kw < 3; ++kw) {
                const int64_t h = oh * 2 - 1 + kh, wi = ow * 2 - 1 + kw;
                field.push_back(h < 0 || h >= 5 || wi < 0 || wi >= 6 ? 0.0f : xv[((n * 2 + c) * 5 + h) * 6 + wi]);
                weights.push_back(w[((oc * 2 + c) * 3 + kh) * 3 + kw]);
              }
          EXPECT_EQ(yv[((n * 3 + oc) * 3 + oh) * 3 + ow], chain(weights, field, o) + b[oc]) << n << oc << oh << ow;
        }
  EXPECT_THROW(nn::QConv2d(4, 4, 3, o, o, nn::Conv2dOptions{.groups = 2}), Error);
}

// docs/numerics.md's example, by hand: float:4:3 has 3 mantissa bits, so 0.4921875 =
// 1.11111b x 2^-2 rounds alone to 0.5, 8 + 0.5 is a tie that float's nearest rounds away
// to 9, and 8 + 0.4921875 rounds to 8.
TEST(QConv2d, PaddedTapsAreStepsOfTheChain) {
  const Tensor x = Tensor::from_vector({8.0f, 0.4921875f}, {1, 1, 1, 2});
  const Tensor w = ones({1, 1, 1, 3});
  const quant::MacOptions o = mac("acc=float:4:3,chunk=2");
  const Tensor y = quant::qconv2d(x, w, Tensor(), Conv2dParams{.pad_w = 1}, o, std::nullopt);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{9.0f, 8.0f}));
  // The same two products without the padded tap: one chunk, 8.
  EXPECT_EQ(chain({8.0f, 0.4921875f}, {1.0f, 1.0f}, o), 8.0f);
}

TEST(QConv2d, WideFormatsAgreeWithConv2dAndFiniteDifferences) {
  manual_seed(3);
  const quant::MacOptions wide = mac("acc=float:8:23");
  nn::Conv2d plain(2, 2, 3, nn::Conv2dOptions{.padding = 1});
  nn::QConv2d q(plain, wide, wide);
  Tensor x = randn({1, 2, 4, 4});
  x.requires_grad_(true);
  const Tensor y1 = plain(x), y2 = q(x);
  EXPECT_TRUE(qtorch::testing::compare(y2, y1, {.atol = 1e-5, .rtol = 1e-5}));
  const auto r = qtorch::testing::gradcheck(
      [&](const std::vector<Tensor>& in) {
        return quant::qconv2d(in[0], in[1], in[2], Conv2dParams{.pad_h = 1, .pad_w = 1}, wide, wide);
      },
      {randn({1, 2, 4, 4}), randn({2, 2, 3, 3}), randn({2})});
  EXPECT_TRUE(r) << r.message;
}

TEST(QConv2d, NarrowBackwardUsesItsOwnChains) {
  manual_seed(4);
  const quant::MacOptions fwd = mac("acc=fp16"), bwd = mac("acc=float:5:2");
  Tensor x = randn({1, 1, 3, 3}), w = randn({1, 1, 2, 2});
  x.requires_grad_(true);
  w.requires_grad_(true);
  Tensor y = quant::qconv2d(x, w, Tensor(), Conv2dParams{}, fwd, bwd);
  const Tensor g = randn({1, 1, 2, 2});
  y.backward(g);
  // dW[kh][kw] = the chain over the 4 outputs (row-major) of g * x shifted; dX likewise.
  const std::vector<float> xv = x.detach().to_vector(), gv = g.to_vector(), wv = w.detach().to_vector();
  for (int64_t kh = 0; kh < 2; ++kh)
    for (int64_t kw = 0; kw < 2; ++kw) {
      std::vector<float> field;
      for (int64_t oh = 0; oh < 2; ++oh)
        for (int64_t ow = 0; ow < 2; ++ow) field.push_back(xv[(oh + kh) * 3 + ow + kw]);
      EXPECT_EQ(w.grad().to_vector()[kh * 2 + kw], chain(gv, field, bwd));
    }
  // dX[h][w]: the column of W^T g for each im2col entry, a chain over the one output channel,
  // then the entries of one input position summed by col2im in float32.
  std::vector<float> dx(9, 0.0f);
  for (int64_t oh = 0; oh < 2; ++oh)
    for (int64_t ow = 0; ow < 2; ++ow)
      for (int64_t kh = 0; kh < 2; ++kh)
        for (int64_t kw = 0; kw < 2; ++kw)
          dx[(oh + kh) * 3 + ow + kw] += chain({wv[kh * 2 + kw]}, {gv[oh * 2 + ow]}, bwd);
  EXPECT_TRUE(qtorch::testing::expect_bitwise_equal(x.grad().to_vector(), dx));
}

TEST(UseMac, SwapsLinearAndConvInACopyWithTheSameParameters) {
  manual_seed(5);
  auto model = nn::sequential({std::make_shared<nn::Conv2d>(1, 2, 3), std::make_shared<nn::ReLU>(),
                               nn::sequential({std::make_shared<nn::Linear>(8, 4)})});
  const auto fwd = mac("acc=bf16"), bwd = mac("acc=fp16,kahan");
  nn::ModulePtr q = nn::use_mac(*model, fwd, bwd);
  EXPECT_EQ(model->repr(), "Sequential(Conv2d(1 -> 2, k=3, stride=1, padding=0), ReLU(), Sequential(Linear(8 -> 4)))");
  EXPECT_EQ(q->repr(),
            "Sequential(QConv2d(1 -> 2, k=3, stride=1, padding=0, forward=acc=bf16, backward=acc=fp16,kahan), ReLU(), "
            "Sequential(QLinear(8 -> 4, forward=acc=bf16, backward=acc=fp16,kahan)))");
  const auto a = model->state_dict(), b = q->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    EXPECT_TRUE(qtorch::testing::expect_bitwise_equal(b.at(name).to_vector(), t.to_vector())) << name;
    EXPECT_FALSE(b.at(name).is_same(t)) << name << " is shared with the original";
  }
  // A clone keeps the Q forms and their options.
  EXPECT_EQ(q->clone()->repr(), q->repr());
  // make_low_precision still sees them as linear and conv layers.
  EXPECT_EQ((*std::dynamic_pointer_cast<nn::Sequential>(q))[0]->layer_kind(), nn::LayerKind::Conv);
}

// A layer at two places (tied weights) stays one layer: its weight takes both places'
// gradients. With float32-wide chains on small integers every sum is exact, so the Q form's
// gradient equals the original's bit for bit.
TEST(UseMac, ALayerAtTwoPlacesStaysOneLayer) {
  auto lin = std::make_shared<nn::Linear>(2, 2);
  {
    NoGradGuard no_grad;
    lin->weight().copy_(Tensor::from_vector({1, -2, 3, 1}, {2, 2}));
    lin->bias().copy_(Tensor::from_vector({1, 0}, {2}));
  }
  auto model = nn::sequential({lin, lin});
  const auto wide = mac("acc=float:8:23");
  nn::ModulePtr q = nn::use_mac(*model, wide, wide);
  ASSERT_EQ(q->parameters().size(), 2u);
  auto& seq = dynamic_cast<nn::Sequential&>(*q);
  EXPECT_EQ(seq[0], seq[1]);
  const Tensor x = Tensor::from_vector({1, 2}, {1, 2});
  sum((*model)(x)).backward();
  sum((*q)(x)).backward();
  const auto pa = model->parameters(), pb = q->parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_TRUE(qtorch::testing::expect_bitwise_equal(pb[i].grad().to_vector(), pa[i].grad().to_vector())) << i;
}

class Doubled : public nn::Cloneable<Doubled, nn::Linear> {
 public:
  using Cloneable::Cloneable;
  Tensor forward(const Tensor& x) override { return nn::Linear::forward(x) * 2.0f; }
  std::string type_name() const override { return "Doubled"; }
};

TEST(UseMac, ASubclassOrAGroupedConvIsAnErrorNamingTheLayer) {
  const auto o = mac("acc=fp16");
  auto sub = nn::sequential({std::make_shared<nn::ReLU>(), nn::sequential({std::make_shared<Doubled>(3, 2)})});
  try {
    nn::use_mac(*sub, o, o);
    ADD_FAILURE() << "a subclass of Linear was replaced";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the layer '1.0', a Doubled derived from Linear"), std::string::npos)
        << e.what();
  }
  auto grouped = nn::sequential({nn::sequential({std::make_shared<nn::Conv2d>(4, 4, 3, nn::Conv2dOptions{.groups = 2})})});
  try {
    nn::use_mac(*grouped, o, o);
    ADD_FAILURE() << "a grouped convolution was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("got groups=2 in the layer '0.0', Conv2d("), std::string::npos) << e.what();
  }
}

}  // namespace
