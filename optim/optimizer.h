// optim::Optimizer: the base of SGD, Adam, AdamW and OptimLP. Holds parameter groups,
// per-parameter state buffers, and exposes them through one visitor and a state dict.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "qtorch/core/tensor.h"
#include "qtorch/nn/module.h"

namespace qtorch::optim {

/// A set of parameters sharing a learning rate. lr = -1 (the default value) means "the
/// optimizer's default"; any other negative, NaN or infinite lr is an error.
struct ParamGroup {
  std::vector<Tensor> params;
  double lr = -1.0;
};

/// What an optimizer saves and restores: tensors by name ("<param index>.<buffer>",
/// "acc.<param index>", ...) and numbers by name ("step_count", "lr.<group>", ...).
struct OptimizerState {
  nn::StateDict tensors;
  std::map<std::string, double> scalars;
};

/// Per-parameter state: its own step count and named buffers (undefined until first used).
struct ParamState {
  int64_t step = 0;
  std::vector<Tensor> buffers;  // in the order of Optimizer::state_names()
};

/// Whether n is a step count: a whole number in [0, 2^53] (converted back to int64 exactly).
bool is_step_count(double n);
/// The step count `key` of a state dict: a whole number in [0, 2^53]; throws qtorch::Error
/// naming `optimizer` and the entry otherwise.
double check_count(const OptimizerState& state, const std::string& key, const std::string& optimizer);

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every parameter that has a gradient.
  virtual void step() = 0;
  /// Drops every parameter's gradient.
  virtual void zero_grad();
  /// The learning rate of the first group.
  virtual double lr() const;
  /// Sets the learning rate of every group.
  virtual void set_lr(double lr);
  /// Sets the learning rate of group `group` (what a schedule does group by group).
  virtual void set_group_lr(size_t group, double lr);
  /// The groups whose learning rates step() uses (OptimLP: the wrapped optimizer's).
  virtual const std::vector<ParamGroup>& param_groups() const { return groups_; }
  virtual std::vector<ParamGroup>& param_groups() { return groups_; }
  /// Every parameter, group by group, in order.
  std::vector<Tensor> parameters() const;
  /// How many times step() has run.
  int64_t step_count() const { return step_count_; }

  /// The one visitor over the state buffers (SGD momentum, Adam's two moments): fn may
  /// modify the tensor in place or assign a new one of the same shape. OptimLP uses it.
  virtual void for_each_state(const std::function<void(Tensor&)>& fn);

  /// Everything needed to resume: buffers, per-parameter steps, learning rates, counts.
  virtual OptimizerState state_dict() const;
  /// Checks then restores a state_dict; throws qtorch::Error (changing nothing) when it
  /// does not fit these parameters.
  virtual void load_state_dict(const OptimizerState& state);
  /// The checks of load_state_dict without changing anything.
  virtual void check_state_dict(const OptimizerState& state) const;

  /// Names of the per-parameter buffers this optimizer keeps, e.g. {"momentum_buffer"}.
  virtual std::vector<std::string> state_names() const { return {}; }

 protected:
  Optimizer(std::vector<ParamGroup> groups, double default_lr, const char* name);
  Optimizer(const std::vector<Tensor>& params, double lr, const char* name);
  /// The state of the parameter at flat position i (group order).
  ParamState& state(size_t i) { return state_[i]; }
  /// A zero buffer shaped like `param` stored at state(i).buffers[k] if still undefined;
  /// returns it.
  Tensor& buffer(size_t i, size_t k, const Tensor& param);
  /// Calls fn(flat index, group, param, grad) for each parameter with a gradient.
  void for_each_param_with_grad(
      const std::function<void(size_t, const ParamGroup&, Tensor&, const Tensor&)>& fn);
  void count_step() { ++step_count_; }
  void set_step_count(int64_t n) { step_count_ = n; }

  std::vector<ParamGroup> groups_;
  std::string name_;

 private:
  std::vector<ParamState> state_;
  int64_t step_count_ = 0;
};

}  // namespace qtorch::optim
