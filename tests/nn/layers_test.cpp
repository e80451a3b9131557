// Layers: forward against hand-computed values, backward through the gradient checker.
#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/error.h"
#include "qtorch/autograd/linalg.h"
#include "qtorch/core/generator.h"
#include "qtorch/nn/nn.h"
#include "qtorch/testing/gtest.h"
#include "support/expect_near.h"

using namespace qtorch;

using qtorch::testing::expect_near;

TEST(Linear, ForwardHandValues) {
  nn::Linear fc(3, 2);
  fc.weight().copy_(Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}));
  fc.bias().copy_(Tensor::from_vector({0.5f, -1}, {2}));
  Tensor y = fc.forward(Tensor::from_vector({1, 0, -1, 2, 1, 0}, {2, 3}));
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  expect_near(y, {-1.5f, -3, 4.5f, 12});
  EXPECT_THROW(fc.forward(zeros({2, 4})), Error);
}

TEST(Linear, NoInputFeaturesGiveTheBiasForAnyLeadingShape) {
  // x [*, 0]: every output is the empty sum plus the bias, as in PyTorch; it threw for inputs
  // of 1 and 3 axes (reshape could not infer -1 rows of 0 features, audit s29).
  const Tensor w = zeros({2, 0}), b = Tensor::from_vector({1.5f, -2}, {2});
  EXPECT_EQ(linear(zeros({0}), w, b).to_vector(), (std::vector<float>{1.5f, -2}));
  const Tensor y = linear(zeros({3, 4, 0}), w, b);
  EXPECT_EQ(y.shape(), (Shape{3, 4, 2}));
  for (size_t i = 0; i < 24; ++i) EXPECT_EQ(y.to_vector()[i], i % 2 ? -2.0f : 1.5f) << i;
  EXPECT_EQ(linear(zeros({3, 0}), w).to_vector(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(linear(zeros({0, 5, 0}), w, b).shape(), (Shape{0, 5, 2}));
}

TEST(Linear, WithoutBias) {
  nn::Linear fc(2, 1, {.bias = false});
  EXPECT_FALSE(fc.bias().defined());
  EXPECT_EQ(fc.parameters().size(), 1u);
  fc.weight().copy_(Tensor::from_vector({2, -1}, {1, 2}));
  expect_near(fc.forward(Tensor::from_vector({3, 4}, {1, 2})), {2});
}

TEST(Linear, Gradients) {
  manual_seed(5);
  auto fc = std::make_shared<nn::Linear>(3, 2);
  qtorch::testing::expect_gradcheck([&](const std::vector<Tensor>& v) { return fc->forward(v[0]); },
                                  {randn({4, 3}), fc->weight(), fc->bias()});
}

TEST(Conv2d, ForwardHandValues) {
  Tensor x = arange(1, 10).reshape({1, 1, 3, 3});
  auto make = [](nn::Conv2dOptions o) {
    auto conv = std::make_shared<nn::Conv2d>(1, 1, 2, o);
    conv->weight().copy_(Tensor::from_vector({1, 0, 0, -1}, {1, 1, 2, 2}));
    conv->bias().fill_(0.5f);
    return conv;
  };
  expect_near(make({})->forward(x), {-3.5f, -3.5f, -3.5f, -3.5f});
  Tensor y = make({.stride = 2, .padding = 1})->forward(x);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  expect_near(y, {-0.5f, -2.5f, -6.5f, -3.5f});
  expect_near(make({.dilation = 2})->forward(x), {-7.5f});
}

TEST(Conv2d, GroupsKeepChannelsApart) {
  nn::Conv2d conv(2, 2, 1, {.groups = 2, .bias = false});
  EXPECT_EQ(conv.weight().shape(), (Shape{2, 1, 1, 1}));
  conv.weight().copy_(Tensor::from_vector({3, 5}, {2, 1, 1, 1}));
  Tensor x = Tensor::from_vector({1, 1, 1, 1, 2, 2, 2, 2}, {1, 2, 2, 2});
  expect_near(conv.forward(x), {3, 3, 3, 3, 10, 10, 10, 10});
  EXPECT_THROW(nn::Conv2d(3, 2, 1, {.groups = 2}), Error);
  EXPECT_THROW(conv.forward(zeros({1, 3, 2, 2})), Error);
}

TEST(Conv2d, Gradients) {
  manual_seed(6);
  auto conv = std::make_shared<nn::Conv2d>(
      2, 2, 3, nn::Conv2dOptions{.stride = 2, .padding = 1, .dilation = 1, .groups = 2});
  qtorch::testing::expect_gradcheck(
      [&](const std::vector<Tensor>& v) { return conv->forward(v[0]); },
      {randn({1, 2, 5, 5}), conv->weight(), conv->bias()});
}

TEST(Pooling, ForwardHandValues) {
  Tensor x = arange(0, 16).reshape({1, 1, 4, 4});
  expect_near(nn::MaxPool2d(2).forward(x), {5, 7, 13, 15});
  expect_near(nn::AvgPool2d(2).forward(x), {2.5f, 4.5f, 10.5f, 12.5f});
  Tensor y = nn::MaxPool2d(3, {.stride = 1}).forward(x);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  expect_near(y, {10, 11, 14, 15});
}

TEST(Pooling, Gradients) {
  manual_seed(7);
  auto pool = std::make_shared<nn::AvgPool2d>(2);
  qtorch::testing::expect_gradcheck([&](const std::vector<Tensor>& v) { return pool->forward(v[0]); },
                                  {randn({1, 2, 4, 4})});
  // Distinct values so the maximum is unique under perturbation.
  auto maxpool = std::make_shared<nn::MaxPool2d>(2);
  Tensor x = (arange(0, 32) * 0.37f).reshape({1, 2, 4, 4});
  qtorch::testing::expect_gradcheck(
      [&](const std::vector<Tensor>& v) { return maxpool->forward(v[0]); }, {x.clone()});
}

TEST(Activations, ForwardAndGradients) {
  Tensor x = Tensor::from_vector({-2, -0.5f, 0.5f, 2}, {4});
  expect_near(nn::ReLU().forward(x), {0, 0, 0.5f, 2});
  expect_near(nn::Sigmoid().forward(x), {0.11920292f, 0.37754067f, 0.62245933f, 0.88079708f});
  expect_near(nn::Tanh().forward(x), {-0.96402758f, -0.46211716f, 0.46211716f, 0.96402758f});
  auto sig = std::make_shared<nn::Sigmoid>();
  auto tanh = std::make_shared<nn::Tanh>();
  auto relu = std::make_shared<nn::ReLU>();
  qtorch::testing::expect_gradcheck([&](const std::vector<Tensor>& v) { return sig->forward(v[0]); },
                                  {x.clone()});
  qtorch::testing::expect_gradcheck([&](const std::vector<Tensor>& v) { return tanh->forward(v[0]); },
                                  {x.clone()});
  qtorch::testing::expect_gradcheck([&](const std::vector<Tensor>& v) { return relu->forward(v[0]); },
                                  {x.clone()});
}

TEST(Flatten, KeepsBatchAxis) {
  Tensor y = nn::Flatten().forward(zeros({2, 3, 4, 5}));
  EXPECT_EQ(y.shape(), (Shape{2, 60}));
  EXPECT_EQ(nn::Flatten(0).forward(zeros({2, 3})).shape(), (Shape{6}));
}

TEST(Dropout, ScalesKeptElementsAndIsIdentityInEval) {
  manual_seed(11);
  auto drop = std::make_shared<nn::Dropout>(0.5f);
  Tensor x = ones({4000});
  Tensor y = drop->forward(x);
  int zeros_seen = 0;
  for (float v : y.to_vector()) {
    ASSERT_TRUE(v == 0.0f || v == 2.0f) << v;
    zeros_seen += v == 0.0f;
  }
  EXPECT_NEAR(zeros_seen / 4000.0, 0.5, 0.05);
  drop->eval();
  Tensor z = drop->forward(x);
  EXPECT_EQ(z.to_vector(), x.to_vector());
  // p = 1 drops everything, as the functional dropout and PyTorch's module; past 1 is an error.
  auto all = std::make_shared<nn::Dropout>(1.0f);
  for (float v : all->forward(x).to_vector()) ASSERT_EQ(v, 0.0f);
  EXPECT_THROW(nn::Dropout(1.5f), Error);
  EXPECT_THROW(nn::Dropout(-0.1f), Error);
}

TEST(Dropout, GradientFollowsTheMask) {
  manual_seed(12);
  nn::Dropout drop(0.25f);
  Tensor x = ones({64}).requires_grad_();
  Tensor y = drop.forward(x);
  sum(y).backward();
  EXPECT_EQ(x.grad().to_vector(), y.detach().to_vector());  // d(mask*x/0.75)/dx = y at x = 1
}

TEST(Losses, CrossEntropyHandValues) {
  Tensor logits = Tensor::from_vector({1, 2, 3, 1, 1, 1}, {2, 3});
  Tensor targets = Tensor::from_vector({2, 0}, {2});
  EXPECT_NEAR(nn::CrossEntropyLoss()(logits, targets).item(), 0.75310912f, 1e-5);
  EXPECT_NEAR(nn::CrossEntropyLoss({.reduction = Reduction::Sum})(logits, targets).item(),
              1.50621825f, 1e-5);
  EXPECT_NEAR(nn::CrossEntropyLoss({.label_smoothing = 0.1f})(logits, targets).item(),
              0.80310912f, 1e-5);
  EXPECT_THROW(nn::CrossEntropyLoss({.label_smoothing = 1.5f}), Error);
}

TEST(Losses, MSEHandValues) {
  Tensor a = Tensor::from_vector({1, 2, 3}, {3});
  Tensor b = Tensor::from_vector({1, 0, 0}, {3});
  EXPECT_NEAR(nn::MSELoss()(a, b).item(), 13.0f / 3.0f, 1e-5);
  EXPECT_NEAR(nn::MSELoss({.reduction = Reduction::Sum})(a, b).item(), 13.0f, 1e-5);
}

TEST(Init, DefaultLayerInitBoundsAndSeeding) {
  manual_seed(3);
  nn::Linear a(100, 50);
  manual_seed(3);
  nn::Linear b(100, 50);
  EXPECT_EQ(a.weight().to_vector(), b.weight().to_vector());
  EXPECT_EQ(a.bias().to_vector(), b.bias().to_vector());
  double sq = 0;
  for (float v : a.weight().to_vector()) {
    EXPECT_LE(std::fabs(v), 0.1f);
    sq += v * v;
  }
  EXPECT_NEAR(sq / 5000, 0.01 / 3, 0.0005);  // variance of U(-b, b) is b^2 / 3
  for (float v : a.bias().to_vector()) EXPECT_LE(std::fabs(v), 0.1f);
  nn::Conv2d c(4, 8, 3);  // fan_in = 36
  for (float v : c.weight().to_vector()) EXPECT_LE(std::fabs(v), 1.0f / 6.0f + 1e-7f);
}

TEST(Init, XavierAndKaimingSpreads) {
  manual_seed(4);
  auto stats = [](const Tensor& t) {
    double s = 0, s2 = 0, mx = 0;
    auto v = t.to_vector();
    for (float x : v) {
      s += x;
      s2 += x * x;
      mx = std::max(mx, std::fabs(static_cast<double>(x)));
    }
    double mean = s / v.size();
    return std::array<double, 2>{std::sqrt(s2 / v.size() - mean * mean), mx};
  };
  Tensor w = empty({200, 100});
  nn::init::xavier_uniform_(w);
  EXPECT_LE(stats(w)[1], std::sqrt(6.0 / 300) + 1e-6);
  EXPECT_NEAR(stats(w)[0], std::sqrt(6.0 / 300) / std::sqrt(3.0), 0.003);
  nn::init::xavier_normal_(w);
  EXPECT_NEAR(stats(w)[0], std::sqrt(2.0 / 300), 0.003);
  nn::init::kaiming_normal_(w, 0.0, nn::init::FanMode::FanIn, nn::init::Nonlinearity::ReLU);
  EXPECT_NEAR(stats(w)[0], std::sqrt(2.0 / 100), 0.004);
  nn::init::kaiming_uniform_(w);
  EXPECT_LE(stats(w)[1], std::sqrt(6.0 / 100) + 1e-6);
  EXPECT_NEAR(nn::init::calculate_gain(nn::init::Nonlinearity::LeakyReLU, std::sqrt(5.0)),
              std::sqrt(1.0 / 3.0), 1e-12);
  EXPECT_THROW(nn::init::xavier_uniform_(empty({5})), Error);
}
