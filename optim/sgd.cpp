// optim::SGD with momentum, dampening, Nesterov and weight decay (PyTorch's update rule).
#include "qtorch/optim/sgd.h"

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"

namespace qtorch::optim {

SGD::SGD(const std::vector<Tensor>& params, const SGDOptions& options)
    : Optimizer(params, options.lr, "SGD"), options_(options) {
  check_options();
}

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& options)
    : Optimizer(std::move(groups), options.lr, "SGD"), options_(options) {
  check_options();
}

void SGD::check_options() const {
  QTORCH_CHECK(options_.momentum >= 0, "SGD: expected momentum >= 0, got {}", options_.momentum);
  QTORCH_CHECK(options_.weight_decay >= 0, "SGD: expected weight_decay >= 0, got {}",
               options_.weight_decay);
  QTORCH_CHECK(!options_.nesterov || (options_.momentum > 0 && options_.dampening == 0),
               "SGD: expected momentum > 0 and dampening = 0 for Nesterov, got momentum {} and "
               "dampening {}",
               options_.momentum, options_.dampening);
}

std::vector<std::string> SGD::state_names() const {
  if (options_.momentum == 0) return {};
  return {"momentum_buffer"};
}

void SGD::step() {
  NoGradGuard no_grad;
  const float m = static_cast<float>(options_.momentum);
  for_each_param_with_grad([&](size_t i, const ParamGroup& group, Tensor& p, const Tensor& grad) {
    Tensor d = grad;
    if (options_.weight_decay != 0) d = d + p * static_cast<float>(options_.weight_decay);
    if (m != 0) {
      ParamState& s = state(i);
      Tensor& buf = buffer(i, 0, p);
      if (s.step == 0) {
        buf.copy_(d);
      } else {
        buf.mul_(m).add_(d, static_cast<float>(1.0 - options_.dampening));
      }
      d = options_.nesterov ? d + buf * m : buf;
    }
    ++state(i).step;
    p.add_(d, static_cast<float>(-group.lr));
  });
  count_step();
}

}  // namespace qtorch::optim
