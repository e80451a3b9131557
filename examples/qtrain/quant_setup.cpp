// Parsing the per-role formats and making the quantizers of the model and the optimizer.
#include "examples/qtrain/quant_setup.h"

#include <stdexcept>

#include "core/error.h"
#include "nn/quantizer_module.h"
#include "quant/quantize.h"
#include "quant/quantizer.h"

namespace qtrain {
namespace {

using qtorch::Tensor;

// quant's messages start with the function name; the option name replaces it here.
std::string without_prefix(const std::string& message, const std::string& prefix) {
  return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
}

std::string role_text(const RoleQuant& q) {
  if (!q.number) return "fp32";
  return qtorch::number_text(q.number) + " " + qtorch::rounding_name(q.rounding);
}

}  // namespace

QuantSetup::QuantSetup(const Config& config) : stats_(std::make_shared<qtorch::QuantStats>()) {
  for (Role r : kRoles) {
    const FormatChoice& choice = config.format(r);
    RoleQuant& q = roles_[static_cast<int>(r)];
    try {
      q.number = qtorch::parse_number(choice.format);
    } catch (const qtorch::Error& e) {
      throw std::invalid_argument(std::string("--") + role_name(r) + "-format: " +
                                  without_prefix(e.what(), "parse_number: "));
    }
    try {
      q.rounding = qtorch::parse_rounding(choice.rounding);
    } catch (const qtorch::Error& e) {
      throw std::invalid_argument(std::string("--") + role_name(r) + "-rounding: " +
                                  without_prefix(e.what(), "parse_rounding: "));
    }
  }
}

bool QuantSetup::quantizes_model() const {
  return role(Role::Activation).number || role(Role::Error).number;
}

bool QuantSetup::quantizes_optimizer() const {
  return role(Role::Weight).number || role(Role::Grad).number || role(Role::Momentum).number ||
         role(Role::Acc).number;
}

qtorch::nn::QuantizerFactory QuantSetup::quantizer_factory() const {
  qtorch::quant::QuantizerOptions options;
  const RoleQuant& a = role(Role::Activation);
  const RoleQuant& e = role(Role::Error);
  options.forward_number = a.number;
  options.forward_rounding = a.rounding;
  options.backward_number = e.number;
  options.backward_rounding = e.rounding;
  // Only the error quantizers count (the diagnostics are theirs); counting costs about
  // a third of a kernel's time, which the activation and optimizer quantizers skip.
  std::shared_ptr<qtorch::QuantStats> stats = stats_;
  std::shared_ptr<std::function<void(int64_t)>> sink = saturation_sink_;
  options.backward_stats = [stats, sink](const qtorch::QuantStats& s) {
    *stats += s;
    if (s.clamped > 0 && *sink) (*sink)(s.clamped);
  };
  return [options] { return std::make_shared<qtorch::nn::Quantizer>(options); };
}

qtorch::optim::OptimLPOptions QuantSetup::optim_options() const {
  auto make = [this](Role r) -> qtorch::optim::QuantFn {
    const RoleQuant& q = role(r);
    if (!q.number) return {};
    qtorch::Number number = *q.number;
    qtorch::Rounding rounding = q.rounding;
    // In place: OptimLP stores the result back into the same weight, gradient or state
    // buffer, so quantizing into x saves an allocation and a pass per tensor and step.
    return [number, rounding](const Tensor& x) {
      if (x.is_contiguous()) {
        qtorch::quant::quantize_into(x, x, number, rounding);
        return x;
      }
      return qtorch::quant::quantize(x, number, rounding);
    };
  };
  qtorch::optim::OptimLPOptions o;
  o.weight_quant = make(Role::Weight);
  o.grad_quant = make(Role::Grad);
  o.momentum_quant = make(Role::Momentum);
  o.acc_quant = make(Role::Acc);
  return o;
}

std::optional<qtorch::QuantStats> QuantSetup::take_stats() {
  qtorch::QuantStats s = *stats_;
  *stats_ = {};
  if (s.numel == 0) return std::nullopt;
  return s;
}

std::string QuantSetup::describe() const {
  std::string out;
  for (Role r : kRoles)
    out += std::string(out.empty() ? "" : ", ") + role_name(r) + "=" + role_text(role(r));
  return out;
}

}  // namespace qtrain
