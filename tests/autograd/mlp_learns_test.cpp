// An MLP built from the raw ops learns the two-spirals task.
#include <gtest/gtest.h>

#include <cmath>

#include "qtorch/qtorch.h"

using namespace qtorch;

TEST(Training, MlpLearnsTwoSpirals) {
  // 200 points on two interleaved spirals, labels 0 and 1.
  const int per_class = 100;
  std::vector<float> xs, ys;
  for (int c = 0; c < 2; ++c) {
    for (int i = 0; i < per_class; ++i) {
      float t = 0.25f + 3.0f * static_cast<float>(i) / per_class;  // radians / pi
      float angle = t * 3.14159265f + c * 3.14159265f;
      xs.push_back(t * std::cos(angle) / 3.25f);
      xs.push_back(t * std::sin(angle) / 3.25f);
      ys.push_back(static_cast<float>(c));
    }
  }
  Tensor x = Tensor::from_vector(xs, {2 * per_class, 2});
  Tensor y = Tensor::from_vector(ys, {2 * per_class});
  manual_seed(0);
  auto param = [](Shape s, float scale) { return (randn(s) * scale).requires_grad_(); };
  Tensor w1 = param({64, 2}, 1.0f), b1 = zeros({64}).requires_grad_();
  Tensor w2 = param({64, 64}, 0.18f), b2 = zeros({64}).requires_grad_();
  Tensor w3 = param({2, 64}, 0.18f), b3 = zeros({2}).requires_grad_();
  std::vector<Tensor> params{w1, b1, w2, b2, w3, b3};
  float first = 0, last = 0;
  for (int step = 0; step < 1500; ++step) {
    Tensor h = tanh(linear(x, w1, b1));
    h = tanh(linear(h, w2, b2));
    Tensor loss = cross_entropy(linear(h, w3, b3), y);
    for (Tensor& p : params) p.zero_grad();
    loss.backward();
    NoGradGuard guard;
    for (Tensor& p : params) p.add_(p.grad(), -0.5f);
    if (step == 0) first = loss.item();
    last = loss.item();
  }
  EXPECT_GT(first, 0.6f);
  EXPECT_LT(last, 0.05f) << "stated target: cross-entropy below 0.05 after 1500 full-batch steps";
}
