// Learning-rate schedules as closed-form functions of the epoch.
#include "qtorch/optim/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "qtorch/core/error.h"

namespace qtorch::optim {

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer) {
  for (const ParamGroup& g : optimizer.param_groups()) base_lrs_.push_back(g.lr);
  QTORCH_CHECK(!base_lrs_.empty(), "LRScheduler: expected an optimizer with at least one parameter group, got none");
}

void LRScheduler::apply() const {
  for (size_t g = 0; g < base_lrs_.size(); ++g) optimizer_.set_group_lr(g, lr_at(epoch_, base_lrs_[g]));
}

namespace {

void check_gamma(const char* schedule, double gamma) {
  QTORCH_CHECK(gamma >= 0 && std::isfinite(gamma), "{}: expected gamma >= 0, got {}", schedule, gamma);
}

}  // namespace

void LRScheduler::step() {
  ++epoch_;
  apply();
}

void LRScheduler::set_epoch(int64_t epoch) {
  QTORCH_CHECK(epoch >= 0, "LRScheduler.set_epoch: expected epoch >= 0, got {}", epoch);
  epoch_ = epoch;
  apply();
}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  QTORCH_CHECK(step_size > 0, "StepLR: expected step_size > 0, got {}", step_size);
  check_gamma("StepLR", gamma);
  apply();
}

double StepLR::lr_at(int64_t epoch, double base) const {
  return base * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma)
    : LRScheduler(optimizer), milestones_(std::move(milestones)), gamma_(gamma) {
  QTORCH_CHECK(std::is_sorted(milestones_.begin(), milestones_.end()),
               "MultiStepLR: expected increasing milestones, got an unsorted list");
  QTORCH_CHECK(milestones_.empty() || milestones_.front() >= 0, "MultiStepLR: expected milestones >= 0, got {}",
               milestones_.empty() ? 0 : milestones_.front());
  check_gamma("MultiStepLR", gamma);
  apply();
}

double MultiStepLR::lr_at(int64_t epoch, double base) const {
  auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin();
  return base * std::pow(gamma_, static_cast<double>(passed));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min)
    : LRScheduler(optimizer), t_max_(t_max), eta_min_(eta_min) {
  QTORCH_CHECK(t_max > 0, "CosineAnnealingLR: expected t_max > 0, got {}", t_max);
  QTORCH_CHECK(eta_min >= 0 && std::isfinite(eta_min), "CosineAnnealingLR: expected eta_min >= 0, got {}", eta_min);
  apply();
}

double CosineAnnealingLR::lr_at(int64_t epoch, double base) const {
  double e = static_cast<double>(std::min(epoch, t_max_));
  return eta_min_ + (base - eta_min_) * (1.0 + std::cos(std::numbers::pi * e / t_max_)) / 2.0;
}

SWALPScheduleLR::SWALPScheduleLR(Optimizer& optimizer, int64_t total_epochs, double ratio)
    : LRScheduler(optimizer), total_(total_epochs), ratio_(ratio) {
  QTORCH_CHECK(total_epochs > 0, "SWALPScheduleLR: expected total_epochs > 0, got {}", total_epochs);
  QTORCH_CHECK(ratio > 0 && ratio <= 1, "SWALPScheduleLR: expected ratio in (0, 1], got {}", ratio);
  apply();
}

double SWALPScheduleLR::lr_at(int64_t epoch, double base) const {
  double t = static_cast<double>(epoch) / static_cast<double>(total_);
  double factor;
  if (t <= 0.5) {
    factor = 1.0;
  } else if (t <= 0.9) {
    factor = 1.0 - (1.0 - ratio_) * (t - 0.5) / 0.4;
  } else {
    factor = ratio_;
  }
  return base * factor;
}

}  // namespace qtorch::optim
