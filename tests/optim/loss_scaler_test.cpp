// LossScaler: scaling, unscaling, skipping overflowing steps, backing off, growing again,
// and overflow reported from outside (saturating backward quantizers).
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/error.h"
#include "qtorch/optim/loss_scaler.h"
#include "qtorch/optim/optim_lp.h"
#include "qtorch/optim/sgd.h"

using namespace qtorch;

TEST(LossScaler, ScalesTheLossAndUnscalesGradients) {
  Tensor w = full({2}, 3.0f).requires_grad_();
  optim::SGD opt({w}, {.lr = 0.1});
  optim::LossScaler scaler({.init_scale = 1024});
  Tensor loss = sum(w * w);  // grad 2w = 6
  Tensor scaled = scaler.scale(loss);
  EXPECT_FLOAT_EQ(scaled.item(), 18.0f * 1024);
  scaled.backward();
  EXPECT_FLOAT_EQ(w.grad().to_vector()[0], 6.0f * 1024);
  EXPECT_TRUE(scaler.step(opt));
  EXPECT_FLOAT_EQ(w.grad().to_vector()[0], 6.0f);
  EXPECT_FLOAT_EQ(w.to_vector()[0], 3.0f - 0.6f);
}

TEST(LossScaler, SkipsOverflowingStepsBacksOffAndRecovers) {
  Tensor w = full({2}, 1.0f).requires_grad_();
  optim::SGD opt({w}, {.lr = 1.0});
  optim::LossScaler scaler({.init_scale = 1024, .growth_interval = 2});
  const float inf = std::numeric_limits<float>::infinity();

  w.set_grad(Tensor::from_vector({inf, 1}, {2}));
  EXPECT_FALSE(scaler.step(opt));
  EXPECT_EQ(w.to_vector(), (std::vector<float>{1, 1}));  // untouched
  EXPECT_EQ(scaler.get_scale(), 512);
  EXPECT_EQ(scaler.skipped_steps(), 1);
  EXPECT_EQ(opt.step_count(), 0);

  w.set_grad(Tensor::from_vector({std::nanf(""), 1}, {2}));
  EXPECT_FALSE(scaler.step(opt));
  EXPECT_EQ(scaler.get_scale(), 256);

  // Two clean steps: both run, then the scale grows back.
  w.set_grad(full({2}, 256 * 0.5f));
  EXPECT_TRUE(scaler.step(opt));
  EXPECT_EQ(w.to_vector(), (std::vector<float>{0.5f, 0.5f}));
  EXPECT_EQ(scaler.get_scale(), 256);
  w.set_grad(full({2}, 256 * 0.25f));
  EXPECT_TRUE(scaler.step(opt));
  EXPECT_EQ(w.to_vector(), (std::vector<float>{0.25f, 0.25f}));
  EXPECT_EQ(scaler.get_scale(), 512);
  EXPECT_EQ(opt.step_count(), 2);
}

TEST(LossScaler, ReportedSaturationCountsAsOverflow) {
  Tensor w = full({1}, 1.0f).requires_grad_();
  optim::SGD opt({w}, {.lr = 1.0});
  optim::LossScaler scaler({.init_scale = 8});
  // A saturating backward format never produces inf: only the report shows the overflow.
  w.set_grad(full({1}, 8.0f));
  scaler.report_overflow(3);
  EXPECT_FALSE(scaler.step(opt));
  EXPECT_EQ(w.item(), 1.0f);
  EXPECT_EQ(scaler.get_scale(), 4);
  // The report is consumed: the next clean step runs.
  w.set_grad(full({1}, 4.0f));
  EXPECT_TRUE(scaler.step(opt));
  EXPECT_EQ(w.item(), 0.0f);

  // A registered check works the same way.
  bool saturated = true;
  scaler.add_overflow_check([&] { return std::exchange(saturated, false); });
  w.set_grad(full({1}, 4.0f));
  EXPECT_FALSE(scaler.step(opt));
  EXPECT_EQ(scaler.get_scale(), 2);
  w.set_grad(full({1}, 2.0f));
  EXPECT_TRUE(scaler.step(opt));
  EXPECT_EQ(w.item(), -1.0f);
}

// A check's prepare (queueing its device reads) runs in every unscale(), before any check
// reads, once per step however often unscale is asked.
TEST(LossScaler, PrepareRunsBeforeEveryCheckOncePerStep) {
  Tensor w = full({1}, 1.0f).requires_grad_();
  optim::SGD opt({w}, {.lr = 1.0});
  optim::LossScaler scaler({.init_scale = 2});
  std::vector<std::string> calls;
  scaler.add_overflow_check([&] { calls.push_back("check a"); return false; }, [&] { calls.push_back("prepare a"); });
  scaler.add_overflow_check([&] { calls.push_back("check b"); return true; });
  scaler.add_overflow_check([&] { calls.push_back("check c"); return false; }, [&] { calls.push_back("prepare c"); });
  w.set_grad(full({1}, 2.0f));
  EXPECT_FALSE(scaler.unscale(opt));
  EXPECT_FALSE(scaler.step(opt));  // unscaled already: no second round of checks
  EXPECT_EQ(calls, (std::vector<std::string>{"prepare a", "prepare c", "check a", "check b", "check c"}));
  EXPECT_EQ(w.item(), 1.0f);
  EXPECT_EQ(scaler.get_scale(), 1);
}

TEST(LossScaler, StaticScaleNeverChangesAndWorksWithOptimLP) {
  Tensor w = full({1}, 0.0f).requires_grad_();
  auto sgd = std::make_shared<optim::SGD>(std::vector<Tensor>{w}, optim::SGDOptions{.lr = 1.0});
  optim::OptimLP opt(sgd, [](const Tensor& x) { return x; });
  optim::LossScaler scaler({.init_scale = 128, .dynamic = false});
  w.set_grad(full({1}, std::numeric_limits<float>::infinity()));
  EXPECT_FALSE(scaler.step(opt));
  EXPECT_EQ(scaler.get_scale(), 128);
  w.set_grad(full({1}, 64.0f));
  EXPECT_TRUE(scaler.step(opt));
  EXPECT_EQ(w.item(), -0.5f);
  EXPECT_THROW(optim::LossScaler({.init_scale = 0}), Error);
}

// Under a scale below 1, a finite scaled gradient can overflow when unscaled: that step is an
// overflow too (it applied -inf to the weight: the probe read the scaled gradient).
TEST(LossScaler, AGradientThatOverflowsWhenUnscaledIsAnOverflow) {
  Tensor w = full({1}, 1.0f).requires_grad_();
  optim::SGD opt({w}, {.lr = 1.0});
  optim::LossScaler scaler({.init_scale = 0.25});
  w.set_grad(full({1}, 3e38f));
  EXPECT_FALSE(scaler.step(opt));
  EXPECT_EQ(w.item(), 1.0f);
  EXPECT_EQ(scaler.get_scale(), 0.125);
  EXPECT_THROW(optim::LossScaler({.min_scale = 2, .max_scale = 1}), Error);
  EXPECT_THROW(optim::LossScaler({.min_scale = 0}), Error);
}

TEST(LossScaler, ADynamicScaleStartsWithinItsBounds) {
  EXPECT_THROW(optim::LossScaler({.init_scale = 4, .max_scale = 2}), Error);
  EXPECT_THROW(optim::LossScaler({.init_scale = 0.5, .min_scale = 1}), Error);
  EXPECT_NO_THROW(optim::LossScaler({.init_scale = 4, .dynamic = false, .max_scale = 2}));  // static: never moves
}
