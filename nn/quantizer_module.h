// nn::Quantizer: the module form of quant::quantizer (qtorch.quant.Quantizer), with all
// six options; no parameters, the same in training and eval mode.
#pragma once

#include <string>

#include "qtorch/nn/module.h"
#include "qtorch/nn/takes_bias_add.h"
#include "qtorch/quant/quantizer.h"

namespace qtorch::nn {

/// Quantizes its input with a straight-through graph node (see quant/quantizer.h).
/// `Quantizer(quant::QuantizerOptions{.forward_number = BlockFloatingPoint{.wl = 8}, ...})`
/// After a Linear or Conv2d in a Sequential it takes the layer's bias add into its own node.
class Quantizer : public Cloneable<Quantizer>, public TakesBiasAdd {
 public:
  /// Validates the options (throws qtorch::Error as quant::quantizer does).
  explicit Quantizer(quant::QuantizerOptions options = {});
  Tensor forward(const Tensor& x) override;
  /// The quantizer on x plus the bias along `axis`, as one node (quant::bias_add_quantizer).
  Tensor forward_bias_add(const Tensor& x, const Tensor& bias, int axis) override;
  const quant::QuantizerOptions& options() const { return options_; }
  std::string type_name() const override { return "Quantizer"; }
  /// "forward=block:8:-1 stochastic, backward=fp32 stochastic" (+ ", clamping_grad_zero",
  /// ", hooks=N" when set).
  std::string extra_repr() const override;

 private:
  quant::QuantizerOptions options_;
  quant::QuantizerForms fns_;
};

}  // namespace qtorch::nn
