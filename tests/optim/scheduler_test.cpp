// Learning-rate schedules: the curve over epochs, and that they drive the optimizer.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "qtorch/core/error.h"
#include "qtorch/optim/scheduler.h"
#include "qtorch/optim/sgd.h"

using namespace qtorch;

namespace {

std::vector<double> curve(optim::Optimizer& opt, optim::LRScheduler& s, int epochs) {
  std::vector<double> out{opt.lr()};
  for (int e = 1; e < epochs; ++e) {
    s.step();
    out.push_back(opt.lr());
  }
  return out;
}

void expect_curve(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << "epoch " << i;
}

}  // namespace

TEST(Scheduler, StepLR) {
  Tensor p = zeros({1}).requires_grad_();
  optim::SGD opt({p}, {.lr = 1.0});
  optim::StepLR s(opt, 2, 0.5);
  expect_curve(curve(opt, s, 6), {1, 1, 0.5, 0.5, 0.25, 0.25});
  EXPECT_THROW(optim::StepLR(opt, 0), Error);
}

TEST(Scheduler, MultiStepLR) {
  Tensor p = zeros({1}).requires_grad_();
  optim::SGD opt({p}, {.lr = 1.0});
  optim::MultiStepLR s(opt, {2, 5}, 0.1);
  expect_curve(curve(opt, s, 7), {1, 1, 0.1, 0.1, 0.1, 0.01, 0.01});
}

TEST(Scheduler, Cosine) {
  Tensor p = zeros({1}).requires_grad_();
  optim::SGD opt({p}, {.lr = 1.0});
  optim::CosineAnnealingLR s(opt, 4);
  double c = (1 + std::cos(std::numbers::pi / 4)) / 2;  // 0.8535534
  expect_curve(curve(opt, s, 6), {1, c, 0.5, 1 - c, 0, 0});
}

TEST(Scheduler, SWALPPiecewise) {
  // Constant to half way, linear down to 1% at 90%, then constant.
  Tensor p = zeros({1}).requires_grad_();
  optim::SGD opt({p}, {.lr = 0.2});
  optim::SWALPScheduleLR s(opt, 10);
  std::vector<double> want = {1, 1, 1, 1, 1, 1, 0.7525, 0.505, 0.2575, 0.01, 0.01, 0.01};
  for (auto& w : want) w *= 0.2;
  expect_curve(curve(opt, s, 12), want);
  s.set_epoch(7);
  EXPECT_NEAR(opt.lr(), 0.2 * 0.505, 1e-12);
}
