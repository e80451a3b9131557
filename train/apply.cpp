// Lowering a model and wrapping its optimizer for a recipe.
#include "qtorch/train/apply.h"

#include <algorithm>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"
#include "qtorch/nn/lower.h"
#include "qtorch/nn/fusion.h"
#include "qtorch/nn/use_mac.h"
#include "qtorch/optim/optim_lp.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/quant/quantizer.h"

namespace qtorch::train {
namespace {

bool counted(const ApplyOptions& options, Role role) {
  return std::find(options.counted_roles.begin(), options.counted_roles.end(), role) != options.counted_roles.end();
}

/// The activation/error quantizer after a layer: quant::quantizer, plus (with
/// count_nonzero) a count of the finite nonzero inputs of its forward pass.
class LayerQuantizer : public nn::Cloneable<LayerQuantizer>, public nn::TakesBiasAdd {
 public:
  LayerQuantizer(quant::QuantizerOptions options, std::shared_ptr<QuantCounters> count_forward_nonzero)
      : description_(describe(options)), count_forward_nonzero_(std::move(count_forward_nonzero)),
        fns_(quant::quantizer_forms(std::move(options))) {}
  Tensor forward(const Tensor& x) override {
    count_input(x);
    return fns_.plain(x);
  }
  /// One node for this quantizer and a ReLU after it.
  nn::FusedForward forward_fused(std::span<nn::Module* const> next, const Tensor& x) override {
    if (!nn::relu_first(next)) return {};
    count_input(x);
    return nn::quantizer_fused_forward(fns_.fused, x, {}, next);
  }
  /// One node for a layer's bias add and this quantizer, unless the sum's nonzeros are
  /// counted: the count needs the sum itself, so the layer then adds its bias on its own.
  bool takes_bias_add() const override { return count_forward_nonzero_ == nullptr; }
  nn::FusedForward forward_bias_add(const Tensor& x, const Tensor& bias, int axis,
                                    std::span<nn::Module* const> next) override {
    QTORCH_CHECK(takes_bias_add(), "Quantizer: asked to add a bias while counting nonzero inputs, which needs the sum");
    return nn::quantizer_fused_forward(fns_.fused, x, {.bias = bias, .axis = axis}, next);
  }
  std::string type_name() const override { return "Quantizer"; }
  std::string extra_repr() const override { return description_; }

 private:
  void count_input(const Tensor& x) {
    if (count_forward_nonzero_ && !count_forward_nonzero_->paused())
      count_forward_nonzero_->add_nonzero(Role::Activation, count_finite_nonzero(x));
  }
  static std::string describe(const quant::QuantizerOptions& o) {
    return "forward=" + to_string(RoleFormat{o.forward_number, o.forward_rounding}) +
           ", backward=" + to_string(RoleFormat{o.backward_number, o.backward_rounding});
  }
  std::string description_;
  std::shared_ptr<QuantCounters> count_forward_nonzero_;  // null: not counted
  quant::QuantizerForms fns_;
};

/// The error role's counter when errors are counted and their saturation is an overflow
/// (fixed and floating point), so that the overflow channel and the counts read the same
/// device counters; else a counter of the channel's own.
std::shared_ptr<quant::StatsCounter> error_counter(const Recipe& recipe, const ApplyOptions& options,
                                                   const QuantCounters& counters) {
  const RoleFormat& e = recipe[Role::Error];
  if (e.quantized() && qtorch::loss_scale_moves_saturation(*e.number) && counted(options, Role::Error))
    return counters.counter(Role::Error);
  return std::make_shared<quant::StatsCounter>();
}

nn::QuantizerFactory layer_quantizers(const Recipe& recipe, const ApplyOptions& options,
                                      const std::shared_ptr<QuantCounters>& counters,
                                      const std::shared_ptr<OverflowChannel>& overflow) {
  const RoleFormat& a = recipe[Role::Activation];
  const RoleFormat& e = recipe[Role::Error];
  const bool count_a = a.quantized() && counted(options, Role::Activation);
  const bool count_e = e.quantized() && counted(options, Role::Error);
  const bool nonzero = options.count_nonzero;
  return [=] {
    quant::QuantizerOptions o;
    o.forward_number = a.number;
    o.forward_rounding = a.rounding;
    o.backward_number = e.number;
    o.backward_rounding = e.rounding;
    o.clamping_grad_zero = recipe.clamping_grad_zero;
    o.backward_hooks = options.error_hooks;
    if (count_e && nonzero)
      o.backward_hooks.push_back([counters](const Tensor& g) {
        if (!counters->paused()) counters->add_nonzero(Role::Error, count_finite_nonzero(g));
        return g;
      });
    if (count_a) o.forward_counter = counters->counter(Role::Activation);
    // Saturated errors reach the overflow channel (whose counter is the error role's when
    // errors are counted) where a smaller loss scale cures them: fixed and floating point.
    // A block format's saturation is the same at any scale: counted, not an overflow.
    if (e.quantized())
      o.backward_counter = qtorch::loss_scale_moves_saturation(*e.number) ? overflow->counter()
                           : count_e                                    ? counters->counter(Role::Error)
                                                                        : nullptr;
    return std::make_shared<LayerQuantizer>(std::move(o), count_a && nonzero ? counters : nullptr);
  };
}

}  // namespace

OverflowChannel::OverflowChannel(std::shared_ptr<quant::StatsCounter> counter) : counter_(std::move(counter)) {
  QTORCH_CHECK(counter_ != nullptr, "OverflowChannel: expected a counter, got null");
}

int64_t OverflowChannel::take() {
  const int64_t clamped = counter_->read().clamped;
  const int64_t overflows = clamped - taken_ + reported_.exchange(0);
  taken_ = clamped;
  return overflows;
}

void OverflowChannel::connect(const std::shared_ptr<OverflowChannel>& channel, optim::LossScaler& scaler) {
  scaler.add_overflow_check([channel] { return channel->take() > 0; }, [channel] { channel->prefetch(); });
}

optim::QuantFn role_quantizer_fn(const RoleFormat& format, Role role, std::shared_ptr<QuantCounters> counters,
                                 bool count_nonzero) {
  if (!format.quantized()) return {};
  const Number number = *format.number;
  const Rounding rounding = format.rounding;
  const auto options = [counters, role] {
    return quant::QuantizeOptions{.counter = counters ? counters->counter(role).get() : nullptr};
  };
  const auto add_nonzero = [counters, role, count_nonzero](const Tensor& x) {
    if (counters && count_nonzero && !counters->paused()) counters->add_nonzero(role, count_finite_nonzero(x));
  };
  // In place: OptimLP stores the result back into the same weight, gradient or state
  // buffer, so quantizing into x saves an allocation and a pass per tensor and step.
  auto one = [=](const Tensor& x) {
    add_nonzero(x);
    if (!x.is_contiguous()) return quant::quantize(x, number, rounding, options());
    quant::quantize_into(x, x, number, rounding, options());
    return x;
  };
  // The whole list in one call: one launch on a GPU.
  auto each = [=](const std::vector<Tensor>& xs) {
    for (const Tensor& x : xs) add_nonzero(x);
    quant::quantize_each_in_place(xs, number, rounding, options());
  };
  auto check = [number, rounding](const Shape& shape) { quant::make_quant_params(number, rounding, shape); };
  return optim::QuantFn(one, each, check);
}

LowPrecisionSetup apply_recipe(const Recipe& recipe, const nn::ModulePtr& model, const OptimizerFactory& make_optimizer,
                               const ApplyOptions& options) {
  QTORCH_CHECK(model != nullptr, "apply_recipe: expected a model, got null");
  QTORCH_CHECK(static_cast<bool>(make_optimizer), "apply_recipe: expected an optimizer factory, got an empty function");
  recipe.validate();
  LowPrecisionSetup setup;
  setup.counters = std::make_shared<QuantCounters>();
  setup.overflow = std::make_shared<OverflowChannel>(error_counter(recipe, options, *setup.counters));
  setup.model = model;
  if (recipe.mac_forward || recipe.mac_backward)
    setup.model = nn::use_mac(*setup.model, recipe.mac_forward, recipe.mac_backward);
  if (recipe.quantizes_model() || !options.error_hooks.empty())
    setup.model = nn::make_low_precision(*setup.model, recipe.quantize_after,
                                         layer_quantizers(recipe, options, setup.counters, setup.overflow));

  std::vector<Tensor> params = setup.model->parameters();
  auto quantizer_of = [&](Role role) {
    return role_quantizer_fn(recipe[role], role, counted(options, role) ? setup.counters : nullptr,
                             options.count_nonzero);
  };
  auto quantize_params = [&](Role role) {
    if (!recipe.quantize_initial_weights || !recipe[role].quantized()) return;
    NoGradGuard no_grad;
    for (Tensor& p : params) p.copy_(quant::quantize(p, *recipe[role].number, recipe[role].rounding));
  };
  quantize_params(Role::Acc);  // the accumulator starts as acc(w0) ...
  setup.optimizer = make_optimizer(params);
  QTORCH_CHECK(setup.optimizer != nullptr, "apply_recipe: expected the optimizer factory to return an optimizer, got null");
  if (recipe.quantizes_optimizer()) {
    optim::OptimLPOptions lp;
    lp.weight_quant = quantizer_of(Role::Weight);
    lp.grad_quant = quantizer_of(Role::Grad);
    lp.momentum_quant = quantizer_of(Role::Momentum);
    lp.acc_quant = quantizer_of(Role::Acc);
    if (!lp.acc_quant && recipe.master_weights) lp.acc_quant = [](const Tensor& x) { return x.detach().clone(); };
    if (recipe.loss_scaling.kind == LossScaling::Kind::Multiplier) lp.grad_scaling = 1.0 / recipe.loss_scaling.scale;
    setup.optimizer = std::make_shared<optim::OptimLP>(setup.optimizer, lp);
  }
  quantize_params(Role::Weight);  // ... and the stored weights as weight(acc(w0))
  return setup;
}

}  // namespace qtorch::train
