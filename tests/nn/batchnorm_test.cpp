// BatchNorm: batch statistics in training, running statistics in eval, their updates
// (momentum and cumulative), affine parameters and gradients.
#include <gtest/gtest.h>

#include <cmath>

#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/nn/batchnorm.h"
#include "qtorch/testing/gtest.h"
#include "support/expect_near.h"

using namespace qtorch;

using qtorch::testing::expect_near;

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

// The batch count is state, as PyTorch's num_batches_tracked: a cumulative average resumed
// from a state dict goes on exactly as the uninterrupted one (it restarted at 1 before,
// so the first batch after a resume replaced the running statistics).
TEST(BatchNorm, TheBatchCountIsSavedAndLoadedWithTheState) {
  manual_seed(3);
  std::vector<Tensor> batches;
  for (int i = 0; i < 4; ++i) batches.push_back(randn({8, 2}));
  nn::BatchNorm1d whole(2, {.momentum = std::nullopt});
  for (const Tensor& b : batches) whole.forward(b);
  nn::BatchNorm1d first(2, {.momentum = std::nullopt});
  for (int i = 0; i < 3; ++i) first.forward(batches[i]);
  const nn::StateDict saved = first.state_dict();
  ASSERT_TRUE(saved.contains("num_batches_tracked"));
  EXPECT_EQ(saved.at("num_batches_tracked").shape(), Shape{});
  EXPECT_EQ(saved.at("num_batches_tracked").item(), 3.0f);
  nn::BatchNorm1d resumed(2, {.momentum = std::nullopt});
  resumed.load_state_dict(saved);
  EXPECT_EQ(resumed.num_batches_tracked(), 3);
  resumed.forward(batches[3]);
  EXPECT_THAT(resumed.running_mean(), qtorch::testing::TensorBitwiseEq(whole.running_mean()));
  EXPECT_THAT(resumed.running_var(), qtorch::testing::TensorBitwiseEq(whole.running_var()));
  // A state dict from before the count was a buffer still loads strictly; the count stays.
  nn::StateDict older;
  for (const auto& [name, t] : saved)
    if (name != "num_batches_tracked") older.insert(name, t);
  nn::BatchNorm1d old(2, {.momentum = std::nullopt});
  old.load_state_dict(older);
  EXPECT_EQ(old.num_batches_tracked(), 0);
  EXPECT_THAT(old.running_mean(), qtorch::testing::TensorBitwiseEq(first.running_mean()));
  // Only that entry may be missing.
  nn::StateDict partial;
  for (const auto& [name, t] : older)
    if (name != "running_var") partial.insert(name, t);
  EXPECT_THROW(old.load_state_dict(partial), Error);
}

TEST(BatchNorm, SetMomentumChecksAsTheConstructorDoes) {
  nn::BatchNorm1d bn(2);
  EXPECT_THROW(bn.set_momentum(5.0), Error);
  EXPECT_THROW(bn.set_momentum(-3.0), Error);
  EXPECT_THROW(bn.set_momentum(std::nan("")), Error);
  bn.set_momentum(std::nullopt);
  EXPECT_NE(bn.extra_repr().find("momentum=None"), std::string::npos);
  bn.set_momentum(0.25);
  EXPECT_NE(bn.extra_repr().find("momentum=0.25"), std::string::npos);
}

// A batch of no samples, as PyTorch 1.13 (BatchNorm2d(3) in training on [0, 3, 4, 4]): an
// empty output, the running statistics as they were (0 and 1), num_batches_tracked 1, and in
// the backward zero gradients for the affine parameters. It was refused ("expected more than
// 1 value per channel"), so a Sequential with BatchNorm could not run an empty batch.
TEST(BatchNorm2d, EmptyBatchInTrainingGivesAnEmptyOutputAndCountsTheBatch) {
  nn::BatchNorm2d bn(3);
  Tensor x = zeros({0, 3, 4, 4}).requires_grad_();
  Tensor y = bn.forward(x);
  EXPECT_EQ(y.shape(), (Shape{0, 3, 4, 4}));
  expect_near(bn.running_mean(), {0, 0, 0});
  expect_near(bn.running_var(), {1, 1, 1});
  EXPECT_EQ(bn.num_batches_tracked(), 1);
  sum(y).backward();
  EXPECT_EQ(x.grad().shape(), (Shape{0, 3, 4, 4}));
  expect_near(bn.weight().grad(), {0, 0, 0});
  expect_near(bn.bias().grad(), {0, 0, 0});
  nn::BatchNorm1d bn1(3);
  EXPECT_EQ(bn1.forward(zeros({0, 3})).shape(), (Shape{0, 3}));
  EXPECT_EQ(bn1.num_batches_tracked(), 1);
}
