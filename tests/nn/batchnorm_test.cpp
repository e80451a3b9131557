// BatchNorm: batch statistics in training, running statistics in eval, their updates
// (momentum and cumulative), affine parameters and gradients.
#include <gtest/gtest.h>

#include <cmath>

#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/nn/batchnorm.h"
#include "qtorch/testing/gtest.h"

using namespace qtorch;

namespace {

void expect_near(const Tensor& t, const std::vector<float>& expected, float tol = 1e-5f) {
  std::vector<float> got = t.to_vector();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], tol) << "element " << i;
}

}  // namespace

TEST(BatchNorm2d, TrainingUsesBatchStatisticsAndUpdatesRunningOnes) {
  nn::BatchNorm2d bn(1);
  bn.weight().fill_(2);
  bn.bias().fill_(1);
  Tensor x = Tensor::from_vector({1, 3, 5, 7}, {2, 1, 1, 2});  // mean 4, biased var 5
  float s = std::sqrt(5.0f + 1e-5f);
  expect_near(bn.forward(x), {1 - 6 / s, 1 - 2 / s, 1 + 2 / s, 1 + 6 / s});
  expect_near(bn.running_mean(), {0.4f});                       // 0.9 * 0 + 0.1 * 4
  expect_near(bn.running_var(), {0.9f + 0.1f * 5 * 4 / 3});     // unbiased variance 20/3
  EXPECT_EQ(bn.num_batches_tracked(), 1);

  bn.eval();
  float rv = 0.9f + 0.1f * 5 * 4 / 3;
  float r = std::sqrt(rv + 1e-5f);
  expect_near(bn.forward(x), {1 + 2 * (1 - 0.4f) / r, 1 + 2 * (3 - 0.4f) / r,
                              1 + 2 * (5 - 0.4f) / r, 1 + 2 * (7 - 0.4f) / r});
  EXPECT_EQ(bn.num_batches_tracked(), 1);  // eval leaves the statistics alone
  expect_near(bn.running_mean(), {0.4f});
}

TEST(BatchNorm1d, PerChannelStatistics) {
  nn::BatchNorm1d bn(2, {.affine = false});
  EXPECT_TRUE(bn.parameters().empty());
  Tensor x = Tensor::from_vector({1, 10, 3, 30}, {2, 2});  // means [2, 20], vars [1, 100]
  float a = 1 / std::sqrt(1 + 1e-5f), b = 10 / std::sqrt(100 + 1e-5f);
  expect_near(bn.forward(x), {-a, -b, a, b});
  expect_near(bn.running_mean(), {0.2f, 2.0f});
  // [N, C, L] input reduces over N and L.
  nn::BatchNorm1d bn3(1, {.affine = false});
  Tensor y = bn3.forward(Tensor::from_vector({0, 2, 4, 6}, {2, 1, 2}));
  float s = std::sqrt(5.0f + 1e-5f);
  expect_near(y, {-3 / s, -1 / s, 1 / s, 3 / s});
  EXPECT_THROW(bn.forward(zeros({2, 3})), Error);
  EXPECT_THROW(bn.forward(zeros({1, 2})), Error);  // one value per channel in training
}

TEST(BatchNorm, CumulativeAverageWithoutMomentum) {
  nn::BatchNorm1d bn(1, {.momentum = std::nullopt});
  bn.forward(Tensor::from_vector({3, 5}, {2, 1}));   // mean 4, unbiased var 2
  bn.forward(Tensor::from_vector({6, 10}, {2, 1}));  // mean 8, unbiased var 8
  expect_near(bn.running_mean(), {6});
  expect_near(bn.running_var(), {5});
  bn.reset_running_stats();
  expect_near(bn.running_mean(), {0});
  expect_near(bn.running_var(), {1});
  EXPECT_EQ(bn.num_batches_tracked(), 0);
}

TEST(BatchNorm, WithoutRunningStatsAlwaysUsesTheBatch) {
  nn::BatchNorm1d bn(1, {.affine = false, .track_running_stats = false});
  EXPECT_TRUE(bn.buffers().empty());
  bn.eval();
  expect_near(bn.forward(Tensor::from_vector({1, 3}, {2, 1})), {-1 / std::sqrt(1 + 1e-5f), 1 / std::sqrt(1 + 1e-5f)});
}

TEST(BatchNorm, Gradients) {
  manual_seed(8);
  auto bn = std::make_shared<nn::BatchNorm2d>(2);
  bn->weight().copy_(Tensor::from_vector({1.5f, 0.5f}, {2}));
  qtorch::testing::expect_gradcheck([&](const std::vector<Tensor>& v) { return bn->forward(v[0]); },
                                  {randn({3, 2, 2, 2}), bn->weight(), bn->bias()},
                                  {.eps = 1e-2f, .atol = 3e-2, .rtol = 3e-2});
  bn->eval();
  bn->zero_grad();  // the checker accumulates into the same parameters
  qtorch::testing::expect_gradcheck([&](const std::vector<Tensor>& v) { return bn->forward(v[0]); },
                                  {randn({2, 2, 2, 2}), bn->weight(), bn->bias()});
}
