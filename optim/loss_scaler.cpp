// optim::LossScaler: static or dynamic loss scaling with overflow detection.
#include "qtorch/optim/loss_scaler.h"

#include <algorithm>
#include <cmath>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/error.h"

namespace qtorch::optim {

LossScaler::LossScaler(const LossScalerOptions& options) : options_(options), scale_(options.init_scale) {
  QTORCH_CHECK(options.init_scale > 0 && std::isfinite(options.init_scale),
               "LossScaler: expected init_scale > 0, got {}", options.init_scale);
  QTORCH_CHECK(options.growth_factor >= 1 && options.backoff_factor > 0 &&
                   options.backoff_factor <= 1,
               "LossScaler: expected growth_factor >= 1 and backoff_factor in (0, 1], got {} and {}",
               options.growth_factor, options.backoff_factor);
  QTORCH_CHECK(options.growth_interval > 0, "LossScaler: expected growth_interval > 0, got {}",
               options.growth_interval);
  QTORCH_CHECK(options.min_scale > 0 && options.min_scale <= options.max_scale && std::isfinite(options.max_scale),
               "LossScaler: expected 0 < min_scale <= max_scale, both finite, got {} and {}", options.min_scale,
               options.max_scale);
  QTORCH_CHECK(!options.dynamic || (options.init_scale >= options.min_scale && options.init_scale <= options.max_scale),
               "LossScaler: expected init_scale in [min_scale, max_scale] = [{}, {}] for a dynamic scale, got {}",
               options.min_scale, options.max_scale, options.init_scale);
}

Tensor LossScaler::scale(const Tensor& loss) const { return loss * static_cast<float>(scale_); }

void LossScaler::set_scale(double scale) {
  QTORCH_CHECK(scale > 0 && std::isfinite(scale), "LossScaler.set_scale: expected > 0, got {}",
               scale);
  scale_ = scale;
}

bool LossScaler::unscale(Optimizer& optimizer) {
  if (unscaled_) return !found_overflow_;
  NoGradGuard no_grad;
  const float inv = static_cast<float>(1.0 / scale_);
  // sum(u * 0) is 0 when every element is finite and NaN otherwise (0 * inf = NaN), so one
  // device-side reduction per parameter and one read at the end find any inf or NaN. It
  // probes the unscaled gradient: under a scale below 1, a finite g may overflow there.
  Tensor probe;
  for (Tensor& p : optimizer.parameters()) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    Tensor unscaled = g * inv;  // out of place: gradients may share storage
    p.set_grad(unscaled);
    Tensor s = sum(unscaled * 0.0f);
    probe = probe.defined() ? probe + s : s;
  }
  for (auto& c : checks_)
    if (c.prepare) c.prepare();
  bool overflow = probe.defined() && !std::isfinite(probe.item());
  if (pending_overflow_.exchange(0) > 0) overflow = true;
  for (auto& c : checks_) overflow = c.check() || overflow;
  unscaled_ = true;
  found_overflow_ = overflow;
  return !overflow;
}

bool LossScaler::step(Optimizer& optimizer) {
  bool clean = unscale(optimizer);
  if (clean) {
    optimizer.step();
  } else {
    ++skipped_;
  }
  update();
  return clean;
}

void LossScaler::update() {
  bool overflow = unscaled_ ? found_overflow_ : pending_overflow_.exchange(0) > 0;
  if (options_.dynamic) {
    if (overflow) {
      scale_ = std::max(scale_ * options_.backoff_factor, options_.min_scale);
      growth_tracker_ = 0;
    } else if (++growth_tracker_ >= options_.growth_interval) {
      scale_ = std::min(scale_ * options_.growth_factor, options_.max_scale);
      growth_tracker_ = 0;
    }
  }
  unscaled_ = false;
  found_overflow_ = false;
}

}  // namespace qtorch::optim
