// optim::Optimizer: parameter groups, per-parameter state, the state visitor and the
// state dict shared by every optimizer.
#include "qtorch/optim/optimizer.h"

#include <cmath>
#include <unordered_map>

#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"

namespace qtorch::optim {

Optimizer::Optimizer(std::vector<ParamGroup> groups, double default_lr, const char* name)
    : groups_(std::move(groups)), name_(name) {
  QTORCH_CHECK(default_lr >= 0 && std::isfinite(default_lr),
               "{}: expected a learning rate >= 0, got {}", name, default_lr);
  size_t count = 0;
  std::unordered_map<const void*, std::pair<size_t, size_t>> seen;  // each tensor's flat index and group
  for (size_t k = 0; k < groups_.size(); ++k) {
    ParamGroup& g = groups_[k];
    QTORCH_CHECK(g.lr == -1.0 || (g.lr >= 0 && std::isfinite(g.lr)),
                 "{}: expected the learning rate of parameter group {} >= 0 (or -1, the default), got {}", name, k,
                 g.lr);
    if (g.lr == -1.0) g.lr = default_lr;
    for (const auto& p : g.params) {
      QTORCH_CHECK(p.defined(), "{}: expected defined parameters, got an undefined tensor", name);
      // The same tensor twice would take every update twice (PyTorch refuses it too).
      const auto [first, fresh] = seen.try_emplace(p.impl(), count, k);
      QTORCH_CHECK(fresh, "{}: expected each parameter once, got parameter {} (group {}) again as parameter {}", name,
                   first->second.first, first->second.second, count);
      ++count;
    }
  }
  state_.resize(count);
}

Optimizer::Optimizer(const std::vector<Tensor>& params, double lr, const char* name)
    : Optimizer(std::vector<ParamGroup>{ParamGroup{params, lr}}, lr, name) {}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.zero_grad();
}

double Optimizer::lr() const {
  QTORCH_CHECK(!groups_.empty(), "{}.lr: expected at least one parameter group", name_);
  return groups_.front().lr;
}

void Optimizer::set_lr(double lr) {
  QTORCH_CHECK(lr >= 0 && std::isfinite(lr), "{}.set_lr: expected a learning rate >= 0, got {}",
               name_, lr);
  for (auto& g : groups_) g.lr = lr;
}

void Optimizer::set_group_lr(size_t group, double lr) {
  QTORCH_CHECK(group < groups_.size(), "{}.set_group_lr: expected a group below {}, got {}", name_, groups_.size(),
               group);
  QTORCH_CHECK(lr >= 0 && std::isfinite(lr), "{}.set_group_lr: expected a learning rate >= 0 for group {}, got {}",
               name_, group, lr);
  groups_[group].lr = lr;
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> out;
  for (const auto& g : groups_) out.insert(out.end(), g.params.begin(), g.params.end());
  return out;
}

void Optimizer::for_each_state(const std::function<void(Tensor&)>& fn) {
  for (auto& s : state_)
    for (auto& b : s.buffers)
      if (b.defined()) fn(b);
}

Tensor& Optimizer::buffer(size_t i, size_t k, const Tensor& param) {
  auto& buffers = state_[i].buffers;
  if (buffers.size() <= k) buffers.resize(state_names().size() > k ? state_names().size() : k + 1);
  if (!buffers[k].defined()) buffers[k] = zeros(param.shape(), param.device());
  return buffers[k];
}

void Optimizer::for_each_param_with_grad(
    const std::function<void(size_t, const ParamGroup&, Tensor&, const Tensor&)>& fn) {
  size_t i = 0;
  for (auto& g : groups_) {
    for (auto& p : g.params) {
      Tensor grad = p.grad();
      if (grad.defined()) fn(i, g, p, grad);
      ++i;
    }
  }
}

OptimizerState Optimizer::state_dict() const {
  OptimizerState out;
  out.scalars["step_count"] = static_cast<double>(step_count_);
  for (size_t g = 0; g < groups_.size(); ++g) out.scalars["lr." + std::to_string(g)] = groups_[g].lr;
  std::vector<std::string> names = state_names();
  for (size_t i = 0; i < state_.size(); ++i) {
    out.scalars[std::to_string(i) + ".step"] = static_cast<double>(state_[i].step);
    for (size_t k = 0; k < state_[i].buffers.size() && k < names.size(); ++k)
      if (state_[i].buffers[k].defined())
        out.tensors.insert(std::to_string(i) + "." + names[k], state_[i].buffers[k]);
  }
  return out;
}

bool is_step_count(double n) {
  // A whole number a step counter can hold exactly (int64 and double agree up to 2^53).
  return n >= 0 && n <= 9007199254740992.0 && n == std::floor(n);
}

double check_count(const OptimizerState& state, const std::string& key, const std::string& optimizer) {
  auto it = state.scalars.find(key);
  QTORCH_CHECK(it != state.scalars.end(), "{}.load_state_dict: expected an entry '{}', got none", optimizer, key);
  const double n = it->second;
  QTORCH_CHECK(is_step_count(n),
               "{}.load_state_dict: expected '{}' to be a whole number of steps in [0, 2^53], got {}", optimizer, key,
               n);
  return n;
}

void Optimizer::check_state_dict(const OptimizerState& state) const {
  auto need = [&](const std::string& key) {
    auto it = state.scalars.find(key);
    QTORCH_CHECK(it != state.scalars.end(), "{}.load_state_dict: expected an entry '{}', got none",
                 name_, key);
    return it->second;
  };
  check_count(state, "step_count", name_);
  for (size_t g = 0; g < groups_.size(); ++g) {
    const double lr = need("lr." + std::to_string(g));
    QTORCH_CHECK(lr >= 0 && std::isfinite(lr), "{}.load_state_dict: expected 'lr.{}' >= 0, as set_lr takes, got {}",
                 name_, g, lr);
  }
  QTORCH_CHECK(!state.scalars.count("lr." + std::to_string(groups_.size())),
               "{}.load_state_dict: expected {} parameter groups, got more", name_, groups_.size());
  std::vector<Tensor> params = parameters();
  QTORCH_CHECK(!state.scalars.count(std::to_string(params.size()) + ".step"),
               "{}.load_state_dict: expected state for {} parameters, got more", name_,
               params.size());
  std::vector<std::string> names = state_names();
  for (size_t i = 0; i < params.size(); ++i) {
    const double steps = check_count(state, std::to_string(i) + ".step", name_);
    for (const auto& n : names) {
      std::string key = std::to_string(i) + "." + n;
      // Every buffer is made at a parameter's first step (SGD's momentum only with
      // momentum), so a parameter that stepped has them all: a missing one would silently
      // restart from zero, under the step count of a run that had it (Adam's bias correction).
      if (!state.tensors.contains(key)) {
        QTORCH_CHECK(steps == 0, "{}.load_state_dict: expected an entry '{}' (parameter {} has taken {} steps), got none",
                     name_, key, i, steps);
        continue;
      }
      const Tensor& t = state.tensors.at(key);
      QTORCH_CHECK(t.defined() && t.shape() == params[i].shape(),
                   "{}.load_state_dict: expected '{}' of shape {}, got {}", name_, key,
                   shape_str(params[i].shape()),
                   t.defined() ? shape_str(t.shape()) : "an undefined tensor");
    }
  }
  for (const auto& [key, t] : state.tensors) {
    bool known = false;
    for (size_t i = 0; i < params.size() && !known; ++i)
      for (const auto& n : names) known = known || key == std::to_string(i) + "." + n;
    QTORCH_CHECK(known, "{}.load_state_dict: expected only this optimizer's buffers, got '{}'",
                 name_, key);
  }
}

void Optimizer::load_state_dict(const OptimizerState& state) {
  check_state_dict(state);
  step_count_ = static_cast<int64_t>(state.scalars.at("step_count"));
  for (size_t g = 0; g < groups_.size(); ++g) groups_[g].lr = state.scalars.at("lr." + std::to_string(g));
  std::vector<Tensor> params = parameters();
  std::vector<std::string> names = state_names();
  NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    state_[i].step = static_cast<int64_t>(state.scalars.at(std::to_string(i) + ".step"));
    state_[i].buffers.assign(names.size(), Tensor());
    for (size_t k = 0; k < names.size(); ++k) {
      std::string key = std::to_string(i) + "." + names[k];
      if (!state.tensors.contains(key)) continue;
      buffer(i, k, params[i]).copy_(state.tensors.at(key));
    }
  }
}

}  // namespace qtorch::optim
