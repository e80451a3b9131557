// optim::OptimLP: wraps SGD, Adam or AdamW to train in low precision: quantized
// gradients, weights, optimizer state and a weight accumulator, in the exact order of
// docs/numerics.md ("OptimLP").
#pragma once

#include <functional>
#include <memory>
#include <type_traits>
#include <vector>

#include "qtorch/optim/optimizer.h"

namespace qtorch::optim {

/// How OptimLP quantizes one role: a function Tensor -> Tensor (empty: do not quantize) and,
/// optionally, an in-place form for a whole list that gives the same results as `one` on
/// each tensor in list order, random bits included: OptimLP then quantizes all of a step's
/// weights (or gradients, or states) in one call, which on a GPU is one launch instead of
/// one per tensor (quant::quantize_each_in_place; optim::quant_fn makes both forms).
struct QuantFn {
  std::function<Tensor(const Tensor&)> one;
  std::function<void(const std::vector<Tensor>&)> each_in_place;

  QuantFn() = default;
  /// Any function Tensor -> Tensor (a lambda, a std::function), without a list form.
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, QuantFn> &&
                                              std::is_invocable_r_v<Tensor, F&, const Tensor&>>>
  QuantFn(F f) : one(std::move(f)) {}  // NOLINT(google-explicit-constructor): a function is a QuantFn
  QuantFn(std::function<Tensor(const Tensor&)> one_fn, std::function<void(const std::vector<Tensor>&)> each_fn,
          std::function<void(const Shape&)> check_fn = nullptr)
      : one(std::move(one_fn)), each_in_place(std::move(each_fn)), check_shape(std::move(check_fn)) {}
  /// Optional: throws qtorch::Error when the quantizer cannot take a tensor of this shape (a
  /// block dim past its axes). OptimLP runs it on every parameter's shape when it is made,
  /// so that a misfit is refused before a step has changed anything.
  std::function<void(const Shape&)> check_shape;

  explicit operator bool() const { return static_cast<bool>(one); }
  Tensor operator()(const Tensor& x) const { return one(x); }
};

struct OptimLPOptions {
  QuantFn weight_quant{};
  double grad_scaling = 1.0;
  QuantFn grad_quant{};
  QuantFn momentum_quant{};
  QuantFn acc_quant{};
};

/// One step():
/// 1. if grad_quant: grad = grad_quant(grad * grad_scaling) for each parameter with a grad;
/// 2. if acc_quant: the full-precision accumulator becomes the live weight;
/// 3. the wrapped optimizer's step;
/// 4. if acc_quant: weight = acc = acc_quant(weight);
/// 5. if weight_quant: weight = weight_quant(weight) (the accumulator keeps its copy);
/// 6. if momentum_quant: every state buffer of the wrapped optimizer is quantized.
///
/// With an optim::LossScaler, call scaler.step(optlp): the scaler first unscales every
/// gradient, multiplying it by float32(1 / scale) as PyTorch's GradScaler does (and skips the
/// step on overflow), then OptimLP's step runs, so grad_quant sees the unscaled gradient:
/// exactly as if no scaling had happened when the scale is a power of two. grad_scaling
/// is the other, QPyTorch way: the gradient stays scaled until grad_quant multiplies it by
/// grad_scaling just before rounding, and no step is ever skipped.
class OptimLP : public Optimizer {
 public:
  OptimLP(std::shared_ptr<Optimizer> optimizer, QuantFn weight_quant = {},
          double grad_scaling = 1.0, QuantFn grad_quant = {}, QuantFn momentum_quant = {},
          QuantFn acc_quant = {});
  OptimLP(std::shared_ptr<Optimizer> optimizer, const OptimLPOptions& options);

  void step() override;
  void zero_grad() override { inner_->zero_grad(); }
  double lr() const override { return inner_->lr(); }
  void set_lr(double lr) override { inner_->set_lr(lr); }
  void set_group_lr(size_t group, double lr) override { inner_->set_group_lr(group, lr); }
  /// The wrapped optimizer's groups, shared (as QPyTorch's OptimLP shares them).
  const std::vector<ParamGroup>& param_groups() const override { return inner_->param_groups(); }
  std::vector<ParamGroup>& param_groups() override { return inner_->param_groups(); }
  /// Visits the wrapped optimizer's state buffers (not the accumulators).
  void for_each_state(const std::function<void(Tensor&)>& fn) override {
    inner_->for_each_state(fn);
  }
  std::vector<std::string> state_names() const override { return inner_->state_names(); }

  /// The wrapped optimizer's state ("inner." prefix) plus the accumulators ("acc.<i>").
  OptimizerState state_dict() const override;
  void load_state_dict(const OptimizerState& state) override;
  void check_state_dict(const OptimizerState& state) const override;

  Optimizer& inner() { return *inner_; }
  /// The full-precision accumulator of parameter i (undefined without acc_quant).
  const Tensor& accumulator(size_t i) const { return acc_.at(i); }
  const OptimLPOptions& options() const { return options_; }

 private:
  std::shared_ptr<Optimizer> inner_;
  OptimLPOptions options_;
  std::vector<Tensor> acc_;  // one per parameter, in inner_->parameters() order
};

}  // namespace qtorch::optim
