// optim::OptimLP: the low-precision optimizer wrapper (docs/numerics.md, "OptimLP").
#include "qtorch/optim/optim_lp.h"

#include <cmath>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"

namespace qtorch::optim {

namespace {

const Optimizer& checked(const std::shared_ptr<Optimizer>& optimizer) {
  QTORCH_CHECK(optimizer != nullptr, "OptimLP: expected an optimizer to wrap, got null");
  return *optimizer;
}

Tensor quantized(const QuantFn& q, const Tensor& x, const char* what) {
  Tensor out = q(x);
  QTORCH_CHECK(out.defined() && out.shape() == x.shape(),
               "OptimLP: expected the {} quantizer to keep the shape {}, got {}", what,
               shape_str(x.shape()), out.defined() ? shape_str(out.shape()) : "an undefined tensor");
  return out.detach();
}

// Whether a and b view the same elements of one storage.
bool same_elements(const Tensor& a, const Tensor& b) {
  return a.storage() == b.storage() && a.offset() == b.offset() && a.shape() == b.shape() &&
         a.strides() == b.strides();
}

/// xs[i] = q(xs[i]) for every i: the list form in place when q has one, else one by one (the
/// result may then be a new tensor).
void quantize_all(const QuantFn& q, std::vector<Tensor>& xs, const char* what) {
  if (q.each_in_place) {
    q.each_in_place(xs);
    return;
  }
  for (Tensor& x : xs) x = quantized(q, x, what);
}

/// params[i] = values[i], unless values[i] is params[i] itself (an in-place quantizer).
void store(const std::vector<Tensor>& values, std::vector<Tensor>& params) {
  for (size_t i = 0; i < params.size(); ++i)
    if (!same_elements(values[i], params[i])) params[i].copy_(values[i]);
}

}  // namespace

OptimLP::OptimLP(std::shared_ptr<Optimizer> optimizer, QuantFn weight_quant, double grad_scaling,
                 QuantFn grad_quant, QuantFn momentum_quant, QuantFn acc_quant)
    : OptimLP(std::move(optimizer),
              OptimLPOptions{std::move(weight_quant), grad_scaling, std::move(grad_quant),
                             std::move(momentum_quant), std::move(acc_quant)}) {}

OptimLP::OptimLP(std::shared_ptr<Optimizer> optimizer, const OptimLPOptions& options)
    : Optimizer(checked(optimizer).param_groups(), checked(optimizer).lr(), "OptimLP"),
      inner_(std::move(optimizer)),
      options_(options) {
  // Checked as the float32 it is applied in: 1e-60 would be 0, 1e300 infinity.
  const float scaling = static_cast<float>(options.grad_scaling);
  QTORCH_CHECK(scaling > 0 && std::isfinite(scaling),
               "OptimLP: expected grad_scaling > 0 and finite in float32, got {}", options.grad_scaling);
  // Every quantizer takes every parameter's shape (the momentum buffers have them too).
  const std::vector<Tensor> params = inner_->parameters();
  const std::pair<const QuantFn*, const char*> roles[] = {{&options_.weight_quant, "weight"},
                                                          {&options_.grad_quant, "grad"},
                                                          {&options_.momentum_quant, "momentum"},
                                                          {&options_.acc_quant, "acc"}};
  for (const auto& [q, role] : roles) {
    if (!*q || !q->check_shape) continue;
    for (size_t i = 0; i < params.size(); ++i) {
      try {
        q->check_shape(params[i].shape());
      } catch (const Error& e) {
        QTORCH_FAIL("OptimLP: the {} quantizer does not fit parameter {} of shape {}: {}", role, i,
                    shape_str(params[i].shape()), e.what());
      }
    }
  }
  NoGradGuard no_grad;
  for (const Tensor& p : params)
    acc_.push_back(options_.acc_quant ? p.detach().clone() : Tensor());
}

void OptimLP::step() {
  NoGradGuard no_grad;
  std::vector<Tensor> params = inner_->parameters();
  // 1. gradients (scaled, not unscaled afterwards, as in the reference)
  if (options_.grad_quant) {
    const float scale = static_cast<float>(options_.grad_scaling);
    std::vector<Tensor> with_grad, grads;
    for (auto& p : params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      with_grad.push_back(p);
      grads.push_back(scale == 1.0f ? g : g * scale);
    }
    quantize_all(options_.grad_quant, grads, "grad");
    for (size_t i = 0; i < grads.size(); ++i) with_grad[i].set_grad(grads[i]);
  }
  // 2. the accumulator becomes the live weight
  if (options_.acc_quant)
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(acc_[i]);
  // 3. the wrapped step
  inner_->step();
  // 4. weight = acc = acc_quant(weight)
  if (options_.acc_quant) {
    std::vector<Tensor> q = params;
    quantize_all(options_.acc_quant, q, "acc");
    for (size_t i = 0; i < params.size(); ++i) acc_[i].copy_(q[i]);
    store(q, params);
  }
  // 5. weight = weight_quant(weight); the accumulator keeps its copy
  if (options_.weight_quant) {
    std::vector<Tensor> q = params;
    quantize_all(options_.weight_quant, q, "weight");
    store(q, params);
  }
  // 6. the optimizer's state, after the step
  if (options_.momentum_quant) {
    std::vector<Tensor*> buffers;
    inner_->for_each_state([&](Tensor& t) { buffers.push_back(&t); });
    std::vector<Tensor> q;
    for (Tensor* t : buffers) q.push_back(*t);
    quantize_all(options_.momentum_quant, q, "momentum");
    for (size_t i = 0; i < buffers.size(); ++i) *buffers[i] = q[i];
  }
  count_step();
}

OptimizerState OptimLP::state_dict() const {
  OptimizerState inner = inner_->state_dict();
  OptimizerState out;
  out.scalars["step_count"] = static_cast<double>(step_count());
  for (const auto& [k, v] : inner.scalars) out.scalars["inner." + k] = v;
  for (const auto& [k, t] : inner.tensors) out.tensors.insert("inner." + k, t);
  for (size_t i = 0; i < acc_.size(); ++i)
    if (acc_[i].defined()) out.tensors.insert("acc." + std::to_string(i), acc_[i]);
  return out;
}

namespace {

OptimizerState strip_inner(const OptimizerState& state) {
  OptimizerState inner;
  const std::string prefix = "inner.";
  for (const auto& [k, v] : state.scalars)
    if (k.rfind(prefix, 0) == 0) inner.scalars[k.substr(prefix.size())] = v;
  for (const auto& [k, t] : state.tensors)
    if (k.rfind(prefix, 0) == 0) inner.tensors.insert(k.substr(prefix.size()), t);
  return inner;
}

}  // namespace

void OptimLP::check_state_dict(const OptimizerState& state) const {
  check_count(state, "step_count", "OptimLP");
  inner_->check_state_dict(strip_inner(state));
  std::vector<Tensor> params = inner_->parameters();
  for (size_t i = 0; i < acc_.size(); ++i) {
    std::string key = "acc." + std::to_string(i);
    if (!acc_[i].defined()) {
      QTORCH_CHECK(!state.tensors.contains(key),
                   "OptimLP.load_state_dict: expected no accumulators (acc_quant is off), got '{}'",
                   key);
      continue;
    }
    QTORCH_CHECK(state.tensors.contains(key),
                 "OptimLP.load_state_dict: expected an accumulator '{}', got none", key);
    const Tensor& t = state.tensors.at(key);
    QTORCH_CHECK(t.defined() && t.shape() == params[i].shape(),
                 "OptimLP.load_state_dict: expected '{}' of shape {}, got {}", key,
                 shape_str(params[i].shape()), t.defined() ? shape_str(t.shape()) : "undefined");
  }
  for (const auto& [k, t] : state.tensors)
    QTORCH_CHECK(k.rfind("inner.", 0) == 0 || k.rfind("acc.", 0) == 0,
                 "OptimLP.load_state_dict: expected 'inner.*' or 'acc.*' entries, got '{}'", k);
}

void OptimLP::load_state_dict(const OptimizerState& state) {
  check_state_dict(state);
  inner_->load_state_dict(strip_inner(state));
  NoGradGuard no_grad;
  for (size_t i = 0; i < acc_.size(); ++i)
    if (acc_[i].defined()) acc_[i].copy_(state.tensors.at("acc." + std::to_string(i)));
  set_step_count(static_cast<int64_t>(state.scalars.at("step_count")));
}

}  // namespace qtorch::optim
