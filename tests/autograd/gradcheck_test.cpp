// Finite-difference gradient checks of every differentiable op, with broadcasting and
// non-contiguous inputs.
#include <gtest/gtest.h>

#include "qtorch/qtorch.h"
#include "qtorch/testing/gtest.h"

using namespace qtorch;
using qtorch::testing::expect_gradcheck;
using V = std::vector<Tensor>;

namespace {
Tensor r(const Shape& s, float lo = -1.0f, float hi = 1.0f) { return rand(s) * (hi - lo) + lo; }
// A [rows, cols] tensor stored transposed (non-contiguous).
Tensor rt(int64_t rows, int64_t cols) { return r({cols, rows}).t(); }
}  // namespace

class GradCheck : public ::testing::Test {
 protected:
  void SetUp() override { manual_seed(2024); }
};

TEST_F(GradCheck, AddSubMulDivWithBroadcasting) {
  expect_gradcheck([](const V& x) { return x[0] + x[1]; }, {r({3, 4}), r({4})});
  expect_gradcheck([](const V& x) { return x[0] - x[1]; }, {r({3, 1}), rt(3, 4)});
  expect_gradcheck([](const V& x) { return x[0] * x[1]; }, {rt(3, 4), r({1, 4})});
  expect_gradcheck([](const V& x) { return x[0] / x[1]; }, {r({2, 3}), r({3}, 1.0f, 2.0f)});
}

TEST_F(GradCheck, ScalarOperators) {
  expect_gradcheck([](const V& x) { return 3.0f * x[0] - 1.0f; }, {r({5})});
  expect_gradcheck([](const V& x) { return 2.0f - x[0] / 4.0f; }, {r({5})});
  expect_gradcheck([](const V& x) { return 1.0f / x[0]; }, {r({5}, 1.0f, 2.0f)});
  expect_gradcheck([](const V& x) { return -x[0] + 0.5f; }, {rt(2, 3)});
}

TEST_F(GradCheck, UnaryMath) {
  expect_gradcheck([](const V& x) { return exp(x[0]); }, {rt(3, 2)});
  expect_gradcheck([](const V& x) { return log(x[0]); }, {r({6}, 0.5f, 2.0f)});
  expect_gradcheck([](const V& x) { return sqrt(x[0]); }, {r({6}, 0.5f, 2.0f)});
  expect_gradcheck([](const V& x) { return abs(x[0]); }, {r({6}, 0.2f, 1.0f) * Tensor::from_vector({1, -1, 1, -1, 1, -1}, {6})});
  expect_gradcheck([](const V& x) { return pow(x[0], 3.0f); }, {r({6})});
  expect_gradcheck([](const V& x) { return pow(x[0], x[1]); }, {r({4}, 0.5f, 2.0f), r({4})});
  expect_gradcheck([](const V& x) { return clamp(x[0], -0.5f, 0.5f); },
                         {Tensor::from_vector({-0.9f, -0.3f, 0.1f, 0.4f, 0.8f}, {5})});
}

TEST_F(GradCheck, Activations) {
  expect_gradcheck([](const V& x) { return relu(x[0]); },
                         {Tensor::from_vector({-0.9f, -0.3f, 0.1f, 0.4f, 0.8f, 2.0f}, {2, 3}).t()});
  expect_gradcheck([](const V& x) { return sigmoid(x[0]); }, {rt(3, 3)});
  expect_gradcheck([](const V& x) { return tanh(x[0]); }, {r({2, 5})});
  expect_gradcheck([](const V& x) { return softmax(x[0], 1); }, {rt(3, 4)});
  expect_gradcheck([](const V& x) { return log_softmax(x[0], 0); }, {r({3, 4})});
}

TEST_F(GradCheck, MaximumMinimumWhere) {
  expect_gradcheck([](const V& x) { return maximum(x[0], x[1]); }, {r({6}), r({6})});
  expect_gradcheck([](const V& x) { return minimum(x[0], x[1]); }, {r({2, 3}), r({3})});
  Tensor cond = Tensor::from_vector({1, 0, 1, 0}, {4});
  expect_gradcheck([cond](const V& x) { return where(cond, x[0], x[1]); }, {r({4}), r({1})});
}

TEST_F(GradCheck, Reductions) {
  expect_gradcheck([](const V& x) { return sum(x[0]); }, {rt(3, 4)});
  expect_gradcheck([](const V& x) { return sum(x[0], {0}, true); }, {r({3, 4})});
  expect_gradcheck([](const V& x) { return mean(x[0], {1}); }, {rt(3, 4)});
  expect_gradcheck([](const V& x) { return max(x[0], {1}); },
                         {Tensor::from_vector({0.1f, 0.9f, 0.3f, 0.7f, 0.2f, 0.4f}, {2, 3})});
}

TEST_F(GradCheck, MatmulAndLinear) {
  expect_gradcheck([](const V& x) { return matmul(x[0], x[1]); }, {r({3, 4}), rt(4, 2)});
  expect_gradcheck([](const V& x) { return matmul(x[0], x[1]); }, {r({2, 3, 4}), r({4, 2})});
  expect_gradcheck([](const V& x) { return linear(x[0], x[1], x[2]); }, {r({3, 4}), r({2, 4}), r({2})});
}

TEST_F(GradCheck, ShapeOps) {
  expect_gradcheck([](const V& x) { return x[0].reshape({6, 2}) * 1.0f; }, {rt(3, 4)});
  expect_gradcheck([](const V& x) { return x[0].permute({2, 0, 1}) * 1.0f; }, {r({2, 3, 4})});
  expect_gradcheck([](const V& x) { return x[0].slice(1, 1, 4, 2) * 1.0f; }, {r({2, 5})});
  expect_gradcheck([](const V& x) { return x[0].unsqueeze(0).expand({3, 2, 2}) * 1.0f; }, {r({2, 2})});
  expect_gradcheck([](const V& x) { return x[0].squeeze(1).contiguous(); }, {r({3, 1, 2})});
  expect_gradcheck([](const V& x) { return x[0].clone(); }, {rt(2, 2)});
}

TEST_F(GradCheck, ConvAndPooling) {
  Conv2dParams o{.stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 2, .groups = 2};
  expect_gradcheck([o](const V& x) { return conv2d(x[0], x[1], x[2], o); },
                         {r({2, 4, 5, 5}), r({4, 2, 3, 2}), r({4})});
  expect_gradcheck([](const V& x) { return conv2d(x[0], x[1]); }, {r({1, 1, 4, 4}), r({2, 1, 3, 3})});
  // Distinct values so the maximum is unambiguous under the perturbation.
  Tensor distinct = (arange(0, 32).reshape({1, 2, 4, 4}) * 0.37f).permute({0, 1, 3, 2}) - 5.0f;
  expect_gradcheck([](const V& x) { return max_pool2d(x[0], {.kernel_h = 2, .kernel_w = 2}); }, {distinct});
  expect_gradcheck(
      [](const V& x) { return avg_pool2d(x[0], {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}); },
      {r({1, 2, 5, 5})});
}

TEST_F(GradCheck, Losses) {
  Tensor targets = Tensor::from_vector({2, 0, 1}, {3});
  expect_gradcheck([targets](const V& x) { return cross_entropy(x[0], targets); }, {r({3, 4})});
  expect_gradcheck([targets](const V& x) { return cross_entropy(x[0], targets, Reduction::Sum, 0.1f); },
                         {rt(3, 4)});
  expect_gradcheck([targets](const V& x) { return nll_loss(log_softmax(x[0]), targets, Reduction::None); },
                         {r({3, 4})});
  expect_gradcheck([](const V& x) { return mse_loss(x[0], x[1]); }, {r({2, 3}), r({2, 3})});
}
