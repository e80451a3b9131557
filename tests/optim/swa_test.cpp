// SWA: the running average of weights from a chosen step, and the batch-norm statistics
// recomputed for the averaged model.
#include <gtest/gtest.h>

#include "qtorch/core/error.h"
#include "qtorch/nn/nn.h"
#include "qtorch/optim/swa.h"

using namespace qtorch;

TEST(SWA, AveragesSnapshotsFromTheStartStep) {
  auto model = std::make_shared<nn::Linear>(2, 1);
  optim::SWA swa(model, /*start=*/2, /*frequency=*/2);
  std::vector<float> values = {10, 20, 1, 5, 3, 7};  // steps 0..5: averaged at 2 and 4
  for (int step = 0; step < 6; ++step) {
    model->weight().fill_(values[step]);
    model->bias().fill_(-values[step]);
    swa.update(step);
  }
  EXPECT_EQ(swa.count(), 2);
  auto avg = std::dynamic_pointer_cast<nn::Linear>(swa.averaged_model());
  ASSERT_NE(avg, nullptr);
  EXPECT_EQ(avg->weight().to_vector(), (std::vector<float>{2, 2}));  // (1 + 3) / 2
  EXPECT_EQ(avg->bias().to_vector(), (std::vector<float>{-2}));
  EXPECT_EQ(model->weight().to_vector(), (std::vector<float>{7, 7}));  // source untouched
  swa.update_now();
  EXPECT_NEAR(avg->weight().to_vector()[0], (1 + 3 + 7) / 3.0f, 1e-6);
  EXPECT_THROW(optim::SWA(model, 0, 0), Error);
}

TEST(SWA, UpdateBnRecomputesRunningStatistics) {
  auto model = nn::sequential({std::make_shared<nn::Linear>(2, 2), std::make_shared<nn::BatchNorm1d>(2)});
  auto fc = std::dynamic_pointer_cast<nn::Linear>((*model)[0]);
  fc->weight().copy_(Tensor::from_vector({1, 0, 0, 1}, {2, 2}));  // identity
  fc->bias().zero_();
  model->eval();
  optim::SWA swa(model);
  swa.update_now();
  auto avg = swa.averaged_model();
  auto bn = std::dynamic_pointer_cast<nn::BatchNorm1d>(avg->named_children()[1].second);
  // Batches with means 1 and 5 and unbiased variances 2 and 8: the cumulative average
  // gives running mean 3 and variance 5, whatever the stale statistics were.
  bn->running_mean().fill_(100);
  optim::update_bn(*avg, {Tensor::from_vector({0, 0, 2, 2}, {2, 2}),
                          Tensor::from_vector({3, 3, 7, 7}, {2, 2})});
  EXPECT_EQ(bn->running_mean().to_vector(), (std::vector<float>{3, 3}));
  EXPECT_EQ(bn->running_var().to_vector(), (std::vector<float>{5, 5}));
  EXPECT_EQ(bn->options().momentum, 0.1);   // restored
  EXPECT_FALSE(avg->is_training());         // mode restored
  // The source model's statistics are its own.
  auto src_bn = std::dynamic_pointer_cast<nn::BatchNorm1d>((*model)[1]);
  EXPECT_EQ(src_bn->running_mean().to_vector(), (std::vector<float>{0, 0}));
}
