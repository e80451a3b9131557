// optim::LossScaler: static or dynamic loss scaling for low-precision gradients. Scales
// the loss, unscales gradients before the step, skips the step and backs off on overflow
// (inf/NaN gradients or saturation reported by backward quantizers), grows after N clean
// steps.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "qtorch/core/tensor.h"
#include "qtorch/optim/optimizer.h"

namespace qtorch::optim {

struct LossScalerOptions {
  double init_scale = 65536.0;
  /// false: a static scale that never changes (overflowing steps are still skipped).
  bool dynamic = true;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  /// Clean steps in a row before the scale grows.
  int64_t growth_interval = 2000;
  double min_scale = 1.0 / 65536.0;
  double max_scale = 16777216.0 * 65536.0;
};

class LossScaler {
 public:
  explicit LossScaler(const LossScalerOptions& options = {});

  /// loss * scale (differentiable).
  Tensor scale(const Tensor& loss) const;
  /// Records an overflow seen outside the gradients, e.g. saturated elements counted by a
  /// backward quantizer; the next step() is then skipped. Safe to call from any thread.
  void report_overflow(int64_t count = 1) { pending_overflow_.fetch_add(count); }
  /// Adds a check run by each unscale(): return true when an overflow happened since the
  /// last call (e.g. read and reset a quantizer's saturation counter). `prepare`, when
  /// given, runs first in each unscale(), before the gradients' inf/NaN probe is read: it
  /// may queue the check's device reads (StatsCounter::prefetch), so that the probe's one
  /// wait for the device serves them too.
  void add_overflow_check(std::function<bool()> check, std::function<void()> prepare = {}) {
    checks_.push_back({std::move(check), std::move(prepare)});
  }

  /// Multiplies every gradient of the optimizer's parameters by float32(1 / scale), as
  /// PyTorch's GradScaler does (once per step), and returns true when they are all finite
  /// and no overflow was reported.
  bool unscale(Optimizer& optimizer);
  /// unscale (unless already done) then optimizer.step() if clean, then update().
  /// Returns whether the step ran.
  bool step(Optimizer& optimizer);
  /// Adjusts the scale after a step: halve (backoff) on overflow, grow after
  /// growth_interval clean steps in a row. Clears the per-step state.
  void update();

  double get_scale() const { return scale_; }
  void set_scale(double scale);
  int64_t growth_tracker() const { return growth_tracker_; }
  void set_growth_tracker(int64_t n) { growth_tracker_ = n; }
  int64_t skipped_steps() const { return skipped_; }
  void set_skipped_steps(int64_t n) { skipped_ = n; }
  const LossScalerOptions& options() const { return options_; }

 private:
  LossScalerOptions options_;
  double scale_;
  int64_t growth_tracker_ = 0;
  int64_t skipped_ = 0;
  std::atomic<int64_t> pending_overflow_{0};
  struct OverflowCheck {
    std::function<bool()> check;
    std::function<void()> prepare;  // may be empty
  };
  std::vector<OverflowCheck> checks_;
  bool unscaled_ = false;
  bool found_overflow_ = false;
};

}  // namespace qtorch::optim
