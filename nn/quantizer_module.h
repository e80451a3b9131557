// nn::Quantizer: the module form of quant::quantizer (qtorch.quant.Quantizer), with all
// six options; no parameters, the same in training and eval mode.
#pragma once

#include <string>

#include "qtorch/nn/module.h"
#include "qtorch/nn/fusion.h"
#include "qtorch/quant/quantizer.h"

namespace qtorch::nn {

/// Quantizes its input with a straight-through graph node (see quant/quantizer.h).
/// `Quantizer(quant::QuantizerOptions{.forward_number = BlockFloatingPoint{.wl = 8}, ...})`
/// In a Sequential it takes a Linear's or Conv2d's bias add before it, and a ReLU after it,
/// into its own node (nn/fusion.h).
class Quantizer : public Cloneable<Quantizer>, public TakesBiasAdd {
 public:
  /// Validates the options (throws qtorch::Error as quant::quantizer does).
  explicit Quantizer(quant::QuantizerOptions options = {});
  Tensor forward(const Tensor& x) override;
  /// The quantizer and a ReLU first in `next`, as one node (quant::fused_quantizer).
  FusedForward forward_fused(std::span<Module* const> next, const Tensor& x) override;
  /// The quantizer on x plus the bias along `axis`, and a ReLU first in `next`, as one node.
  FusedForward forward_bias_add(const Tensor& x, const Tensor& bias, int axis,
                                std::span<Module* const> next) override;
  bool takes_bias_add() const override { return fuses(); }
  const quant::QuantizerOptions& options() const { return options_; }
  std::string type_name() const override { return "Quantizer"; }
  /// "forward=block:8:-1 stochastic, backward=fp32 stochastic" (+ ", clamping_grad_zero",
  /// ", hooks=N" when set).
  std::string extra_repr() const override;

 private:
  /// Only a Quantizer itself runs fused: a subclass may override forward, which the fused
  /// forms would skip.
  bool fuses() const { return is_exactly<Quantizer>(*this); }

  quant::QuantizerOptions options_;
  quant::QuantizerForms fns_;
};

}  // namespace qtorch::nn
