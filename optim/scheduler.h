// Learning-rate schedules as closed-form functions of the epoch: StepLR, MultiStepLR,
// CosineAnnealingLR and the SWALP piecewise schedule. step() advances one epoch.
#pragma once

#include <cstdint>
#include <vector>

#include "qtorch/optim/optimizer.h"

namespace qtorch::optim {

/// Sets the optimizer's learning rate to lr_at(epoch). The constructor reads the
/// optimizer's current learning rate as the base and applies lr_at(0).
class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler() = default;
  /// The learning rate for an epoch (pure function of base_lr and the schedule).
  virtual double lr_at(int64_t epoch) const = 0;
  /// Advances one epoch and sets the optimizer's learning rate.
  void step();
  int64_t epoch() const { return epoch_; }
  /// Jumps to an epoch (e.g. when resuming) and sets the learning rate.
  void set_epoch(int64_t epoch);
  double base_lr() const { return base_lr_; }

 protected:
  /// Derived constructors call this once their fields are set (lr_at is virtual).
  void apply() const;

 private:
  Optimizer& optimizer_;
  double base_lr_;
  int64_t epoch_ = 0;
};

/// base_lr * gamma^(epoch / step_size)
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t epoch) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

/// base_lr * gamma^(number of milestones <= epoch)
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);
  double lr_at(int64_t epoch) const override;

 private:
  std::vector<int64_t> milestones_;
  double gamma_;
};

/// eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2, constant at eta_min
/// after t_max.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min = 0.0);
  double lr_at(int64_t epoch) const override;

 private:
  int64_t t_max_;
  double eta_min_;
};

/// The schedule of the Python library's SWALP examples, with t = epoch / total_epochs:
/// base_lr for t <= 0.5, linear down to ratio * base_lr at t = 0.9, then constant.
class SWALPScheduleLR : public LRScheduler {
 public:
  SWALPScheduleLR(Optimizer& optimizer, int64_t total_epochs, double ratio = 0.01);
  double lr_at(int64_t epoch) const override;

 private:
  int64_t total_;
  double ratio_;
};

}  // namespace qtorch::optim
