// optim::Adam and optim::AdamW (PyTorch's update rules, with bias correction).
#include "qtorch/optim/adam.h"

#include <cmath>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"

namespace qtorch::optim {

namespace {

AdamOptions from_adamw(const AdamWOptions& o) {
  return AdamOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay};
}

}  // namespace

Adam::Adam(const std::vector<Tensor>& params, const AdamOptions& options)
    : Adam(std::vector<ParamGroup>{ParamGroup{params, options.lr}}, options, false, "Adam") {}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& options)
    : Adam(std::move(groups), options, false, "Adam") {}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled,
           const char* name)
    : Optimizer(std::move(groups), options.lr, name), options_(options), decoupled_(decoupled) {
  check_options();
}

void Adam::check_options() const {
  QTORCH_CHECK(options_.beta1 >= 0 && options_.beta1 < 1 && options_.beta2 >= 0 &&
                   options_.beta2 < 1,
               "{}: expected betas in [0, 1), got ({}, {})", name_, options_.beta1, options_.beta2);
  QTORCH_CHECK(options_.eps >= 0, "{}: expected eps >= 0, got {}", name_, options_.eps);
  QTORCH_CHECK(options_.weight_decay >= 0, "{}: expected weight_decay >= 0, got {}", name_,
               options_.weight_decay);
}

void Adam::step() {
  NoGradGuard no_grad;
  const double b1 = options_.beta1, b2 = options_.beta2;
  for_each_param_with_grad([&](size_t i, const ParamGroup& group, Tensor& p, const Tensor& grad) {
    ParamState& s = state(i);
    Tensor& m = buffer(i, 0, p);
    Tensor& v = buffer(i, 1, p);
    int64_t t = ++s.step;
    Tensor g = grad;
    if (options_.weight_decay != 0) {
      if (decoupled_) {
        p.mul_(static_cast<float>(1.0 - group.lr * options_.weight_decay));
      } else {
        g = g + p * static_cast<float>(options_.weight_decay);
      }
    }
    m.mul_(static_cast<float>(b1)).add_(g, static_cast<float>(1.0 - b1));
    v.mul_(static_cast<float>(b2)).add_(g * g, static_cast<float>(1.0 - b2));
    double bc1 = 1.0 - std::pow(b1, static_cast<double>(t));
    double bc2_sqrt = std::sqrt(1.0 - std::pow(b2, static_cast<double>(t)));
    Tensor denom = sqrt(v) / static_cast<float>(bc2_sqrt) + static_cast<float>(options_.eps);
    p.add_(m / denom, static_cast<float>(-group.lr / bc1));
  });
  count_step();
}

AdamW::AdamW(const std::vector<Tensor>& params, const AdamWOptions& options)
    : Adam(std::vector<ParamGroup>{ParamGroup{params, options.lr}}, from_adamw(options), true,
           "AdamW") {}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options)
    : Adam(std::move(groups), from_adamw(options), true, "AdamW") {}

}  // namespace qtorch::optim
