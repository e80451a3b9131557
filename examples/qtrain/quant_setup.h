// From the six per-role format choices to the objects that quantize: the quantizer module
// inserted after layers and activations, and the OptimLP quantizers of the optimizer.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "examples/qtrain/config.h"
#include "nn/lower.h"
#include "optim/optim_lp.h"
#include "quant/kernel_params.h"
#include "quant/number.h"
#include "quant/rounding.h"

namespace qtrain {

/// A parsed role: its number format (nullopt: fp32, no quantization) and rounding.
struct RoleQuant {
  std::optional<qtorch::Number> number;
  qtorch::Rounding rounding = qtorch::Rounding::Nearest;
};

class QuantSetup {
 public:
  /// Parses every role of `config`; throws std::invalid_argument naming the option
  /// (--weight-format, --error-rounding, ...) for an unknown format or rounding.
  explicit QuantSetup(const Config& config);

  const RoleQuant& role(Role r) const { return roles_[static_cast<int>(r)]; }
  /// True when activations or errors are quantized (quantizers go into the model).
  bool quantizes_model() const;
  /// True when weights, gradients, momentum or the accumulator are quantized.
  bool quantizes_optimizer() const;

  /// Makes one quantizer module (activation format forward, error format backward).
  qtorch::nn::QuantizerFactory quantizer_factory() const;
  /// OptimLP's quantizers for weight, grad, momentum and acc (empty for fp32 roles).
  qtorch::optim::OptimLPOptions optim_options() const;

  /// What the error (backward) quantizers counted (clamped/saturated, flushed to zero,
  /// elements) since the last call, then resets the counts; nullopt when nothing was
  /// counted (no error format).
  std::optional<qtorch::QuantStats> take_stats();
  /// "weight=block:8:0 stochastic, activation=..." for the start-up banner.
  std::string describe() const;
  /// Called with the count of saturated gradient elements whenever a backward (error)
  /// quantizer saturates, so a dynamic loss scaler can treat it as overflow (NUMERICS:
  /// with saturating formats, inf/NaN checks alone never see it). Set after the model
  /// exists; the quantizers made earlier see it too.
  void on_error_saturation(std::function<void(int64_t)> sink) { *saturation_sink_ = std::move(sink); }

 private:
  RoleQuant roles_[kNumRoles];
  std::shared_ptr<qtorch::QuantStats> stats_;
  std::shared_ptr<std::function<void(int64_t)>> saturation_sink_ =
      std::make_shared<std::function<void(int64_t)>>();
};

}  // namespace qtrain
