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

// Each group keeps its own base, as torch's base_lrs: before, every schedule set all groups to
// group 0's rate from its constructor on (groups at 0.1 and 0.01 both trained at 0.1).
TEST(Scheduler, EachParameterGroupKeepsItsOwnBase) {
  Tensor a = zeros({1}).requires_grad_(), b = zeros({1}).requires_grad_();
  optim::SGD opt(std::vector<optim::ParamGroup>{{{a}, 0.1}, {{b}, 0.01}}, {.lr = 0.1});
  optim::StepLR s(opt, 2, 0.5);
  auto rates = [&] { return std::vector<double>{opt.param_groups()[0].lr, opt.param_groups()[1].lr}; };
  EXPECT_EQ(rates(), (std::vector<double>{0.1, 0.01}));
  s.step();
  s.step();
  EXPECT_EQ(rates(), (std::vector<double>{0.1 * 0.5, 0.01 * 0.5}));
  EXPECT_EQ(s.base_lrs(), (std::vector<double>{0.1, 0.01}));
  optim::CosineAnnealingLR c(opt, 4, 0.001);  // bases: the rates now, 0.05 and 0.005
  c.set_epoch(2);
  EXPECT_DOUBLE_EQ(opt.param_groups()[0].lr, 0.001 + (0.05 - 0.001) * 0.5);
  EXPECT_DOUBLE_EQ(opt.param_groups()[1].lr, 0.001 + (0.005 - 0.001) * 0.5);
}

TEST(Scheduler, BadParametersAreRefusedAtConstruction) {
  // They were accepted, and training failed later in set_lr (or decayed at epoch 0).
  Tensor p = zeros({1}).requires_grad_();
  optim::SGD opt({p}, {.lr = 1.0});
  EXPECT_THROW(optim::StepLR(opt, 2, -0.5), Error);
  EXPECT_THROW(optim::StepLR(opt, 2, std::nan("")), Error);
  EXPECT_THROW(optim::MultiStepLR(opt, {-1, 3}), Error);
  EXPECT_THROW(optim::MultiStepLR(opt, {2, 5}, INFINITY), Error);
  EXPECT_THROW(optim::CosineAnnealingLR(opt, 4, -0.01), Error);
  try {
    optim::StepLR(opt, 2, -0.5);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("StepLR: expected gamma >= 0, got -0.5"), std::string::npos) << e.what();
  }
  EXPECT_EQ(opt.lr(), 1.0);
}
