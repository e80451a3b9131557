// Learning-rate schedules as closed-form functions of the epoch: StepLR, MultiStepLR,
// CosineAnnealingLR and the SWALP piecewise schedule. step() advances one epoch.
#pragma once

#include <cstdint>
#include <vector>

#include "qtorch/optim/optimizer.h"

namespace qtorch::optim {

/// Sets each parameter group's learning rate to lr_at(epoch, its base), as PyTorch's
/// schedulers do group by group. The constructor reads the groups' current learning rates
/// as their bases and applies epoch 0: make it before loading a saved optimizer state (as
/// load_checkpoint's callers do), whose rates are already scheduled ones.
class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler() = default;
  /// The learning rate for an epoch of a group whose base is `base` (a pure function).
  virtual double lr_at(int64_t epoch, double base) const = 0;
  /// The learning rate of the first group for an epoch.
  double lr_at(int64_t epoch) const { return lr_at(epoch, base_lr()); }
  /// Advances one epoch and sets the optimizer's learning rates.
  void step();
  int64_t epoch() const { return epoch_; }
  /// Jumps to an epoch (e.g. when resuming) and sets the learning rates.
  void set_epoch(int64_t epoch);
  /// The first group's base learning rate; base_lrs() has every group's.
  double base_lr() const { return base_lrs_.front(); }
  const std::vector<double>& base_lrs() const { return base_lrs_; }

 protected:
  /// Derived constructors call this once their fields are set (lr_at is virtual).
  void apply() const;

 private:
  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  int64_t epoch_ = 0;
};

/// base_lr * gamma^(epoch / step_size)
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  using LRScheduler::lr_at;
  double lr_at(int64_t epoch, double base) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

/// base_lr * gamma^(number of milestones <= epoch); milestones >= 0, increasing.
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);
  using LRScheduler::lr_at;
  double lr_at(int64_t epoch, double base) const override;

 private:
  std::vector<int64_t> milestones_;
  double gamma_;
};

/// eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2, constant at eta_min
/// after t_max (PyTorch's rises again: its cosine is periodic, of period 2 t_max).
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min = 0.0);
  using LRScheduler::lr_at;
  double lr_at(int64_t epoch, double base) const override;

 private:
  int64_t t_max_;
  double eta_min_;
};

/// The schedule of the Python library's SWALP examples, with t = epoch / total_epochs:
/// base_lr for t <= 0.5, linear down to ratio * base_lr at t = 0.9, then constant.
class SWALPScheduleLR : public LRScheduler {
 public:
  SWALPScheduleLR(Optimizer& optimizer, int64_t total_epochs, double ratio = 0.01);
  using LRScheduler::lr_at;
  double lr_at(int64_t epoch, double base) const override;

 private:
  int64_t total_;
  double ratio_;
};

}  // namespace qtorch::optim
