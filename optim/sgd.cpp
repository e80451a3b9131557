// optim::SGD with momentum, dampening, Nesterov and weight decay (PyTorch's update rule).
#include "qtorch/optim/sgd.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"
#include "qtorch/core/view.h"
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
  const SGDConstants c{.momentum = static_cast<float>(options_.momentum),
                       .keep = static_cast<float>(1.0 - options_.dampening),
                       .weight_decay = static_cast<float>(options_.weight_decay),
                       .nesterov = options_.nesterov};
  struct Pending {
    size_t index;
    float lr;
    Tensor p, grad;
  };
  std::vector<Pending> pending;
  std::vector<const Storage*> storages;
  // Tensor::set_grad has checked each gradient's shape and device.
  for_each_param_with_grad([&](size_t i, const ParamGroup& group, Tensor& p, const Tensor& grad) {
    pending.push_back({i, static_cast<float>(group.lr), p, grad});
    storages.push_back(p.storage().get());
  });
  // The fused kernel writes contiguous tensors: a parameter or buffer that is not is updated
  // in a contiguous copy, copied back after the update.
  std::vector<Tensor> inputs;                         // the contiguous gradients, alive until then
  std::vector<std::pair<Tensor, Tensor>> copy_back;   // (tensor, its updated copy)
  auto writable = [&](Tensor& t) {
    if (t.is_contiguous()) return t.data_ptr();
    copy_back.emplace_back(t, ops::contiguous(t));
    return copy_back.back().second.data_ptr();
  };
  auto prepare = [&](Pending& e) {
    SGDTensor t;
    t.n = e.p.numel();
    t.lr = e.lr;
    inputs.push_back(ops::contiguous(e.grad));
    t.g = inputs.back().data_ptr();
    t.p = writable(e.p);
    ParamState& s = state(e.index);
    if (c.momentum != 0.0f) {
      t.first = s.step == 0;
      t.buf = writable(buffer(e.index, 0, e.p));
    }
    ++s.step;
    return t;
  };
  auto update = [&](const Device& device, const std::vector<SGDTensor>& tensors) {
    if (device.is_cpu())
      sgd_update_cpu(tensors, c);
    else
      sgd_update_cuda(tensors, c, device.index);
  };
  auto finish = [&] {
    for (auto& [t, copy] : copy_back) t.copy_(copy);
    copy_back.clear();
  };
  std::sort(storages.begin(), storages.end());
  if (std::adjacent_find(storages.begin(), storages.end()) != storages.end()) {
    // A parameter listed twice (or sharing storage with another) is updated twice, in order.
    for (Pending& e : pending) {
      update(e.p.device(), {prepare(e)});
      finish();
    }
  } else {
    // One fused update per device: on a GPU, one launch for all its parameters.
    std::vector<std::pair<Device, std::vector<SGDTensor>>> by_device;
    for (Pending& e : pending) {
      auto it = std::find_if(by_device.begin(), by_device.end(), [&](const auto& d) { return d.first == e.p.device(); });
      if (it == by_device.end()) it = by_device.insert(by_device.end(), {e.p.device(), {}});
      it->second.push_back(prepare(e));
    }
    for (auto& [device, tensors] : by_device) update(device, tensors);
    finish();
  }
  count_step();
}

}  // namespace qtorch::optim
