// optim::Adam and optim::AdamW (PyTorch's update rules, with bias correction).
#include "qtorch/optim/adam.h"

#include <cmath>

#include <vector>

#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"
#include "qtorch/optim/adam_kernel.h"
#include "qtorch/optim/fused_update.h"

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
  const AdamConstants c{.beta1 = static_cast<float>(b1),
                        .one_minus_beta1 = static_cast<float>(1.0 - b1),
                        .beta2 = static_cast<float>(b2),
                        .one_minus_beta2 = static_cast<float>(1.0 - b2),
                        .eps = static_cast<float>(options_.eps)};
  std::vector<PendingParameter> pending;
  for_each_param_with_grad([&](size_t i, const ParamGroup& group, Tensor& p, const Tensor& grad) {
    pending.push_back({i, group.lr, p, grad});
  });
  auto prepare = [&](PendingParameter& e, FusedTensors& tensors) {
    AdamTensor t;
    t.n = e.p.numel();
    t.g = tensors.readable(e.grad);
    t.p = tensors.writable(e.p);
    t.m = tensors.writable(buffer(e.index, 0, e.p));
    t.v = tensors.writable(buffer(e.index, 1, e.p));
    const int64_t step = ++state(e.index).step;
    if (options_.weight_decay != 0) {
      if (decoupled_)
        t.s.decay = static_cast<float>(1.0 - e.lr * options_.weight_decay);
      else
        t.s.weight_decay = static_cast<float>(options_.weight_decay);
    }
    const double bc1 = 1.0 - std::pow(b1, static_cast<double>(step));
    t.s.bias_correction2 = static_cast<float>(std::sqrt(1.0 - std::pow(b2, static_cast<double>(step))));
    t.s.step_scale = static_cast<float>(-e.lr / bc1);
    return t;
  };
  run_fused_update<AdamTensor>(pending, prepare, c, adam_update_cpu, adam_update_cuda);
  count_step();
}

AdamW::AdamW(const std::vector<Tensor>& params, const AdamWOptions& options)
    : Adam(std::vector<ParamGroup>{ParamGroup{params, options.lr}}, from_adamw(options), true,
           "AdamW") {}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options)
    : Adam(std::move(groups), from_adamw(options), true, "AdamW") {}

}  // namespace qtorch::optim
