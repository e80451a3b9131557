// optim::SGD with momentum, dampening, Nesterov and weight decay (PyTorch's update rule).
#include "qtorch/optim/sgd.h"

#include <cmath>
#include <vector>

#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"
#include "qtorch/optim/fused_update.h"
#include "qtorch/optim/sgd_kernel.h"

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
  QTORCH_CHECK(options_.momentum >= 0 && std::isfinite(options_.momentum), "SGD: expected momentum >= 0, got {}",
               options_.momentum);
  QTORCH_CHECK(std::isfinite(options_.dampening), "SGD: expected a finite dampening, got {}", options_.dampening);
  QTORCH_CHECK(options_.weight_decay >= 0 && std::isfinite(options_.weight_decay),
               "SGD: expected weight_decay >= 0, got {}", options_.weight_decay);
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
  const SGDConstants c{.momentum = static_cast<float>(options_.momentum),
                       .keep = static_cast<float>(1.0 - options_.dampening),
                       .weight_decay = static_cast<float>(options_.weight_decay),
                       .nesterov = options_.nesterov};
  std::vector<PendingParameter> pending;
  for_each_param_with_grad([&](size_t i, const ParamGroup& group, Tensor& p, const Tensor& grad) {
    pending.push_back({i, group.lr, p, grad});
  });
  auto prepare = [&](PendingParameter& e, FusedTensors& tensors) {
    SGDTensor t;
    t.n = e.p.numel();
    t.lr = static_cast<float>(e.lr);
    t.g = tensors.readable(e.grad);
    t.p = tensors.writable(e.p);
    ParamState& s = state(e.index);
    if (c.momentum != 0.0f) {
      t.first = s.step == 0;
      t.buf = tensors.writable(buffer(e.index, 0, e.p));
    }
    ++s.step;
    return t;
  };
  run_fused_update<SGDTensor>(pending, prepare, c, sgd_update_cpu, sgd_update_cuda);
  count_step();
}

}  // namespace qtorch::optim
