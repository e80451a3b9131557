// nn::TakesBiasAdd: a module that can add a layer's bias inside its own op, so that
// Linear -> quantizer or Conv2d -> quantizer runs as one graph node (and, on a GPU, one
// pass) for the bias add and the quantization. The layer's forward_fused_with hands it the
// layer's product without the bias, and the bias.
#pragma once

#include "qtorch/nn/module.h"

namespace qtorch::nn {

class TakesBiasAdd {
 public:
  virtual ~TakesBiasAdd() = default;
  /// What the module's forward gives on the layer's output, x plus a bias of shape
  /// [x.size(axis)] broadcast along `axis` (-1 for a linear layer, 1 for a convolution):
  /// the same values and the same gradients for x and the bias as the layer's own bias
  /// add, bit for bit. Hooks are the caller's business (the module's own are not run).
  /// Called only when takes_bias_add().
  virtual Tensor forward_bias_add(const Tensor& x, const Tensor& bias, int axis) = 0;
  /// Whether forward_bias_add can stand in for the layer's bias add now; asked before the
  /// layer computes anything, so that its own pass runs once either way.
  virtual bool takes_bias_add() const { return true; }
};

/// A layer's forward_fused_with: when `next` takes bias adds and the layer has a bias,
/// next's forward_bias_add(product(), bias, axis); else an undefined tensor, with product()
/// never called.
template <class Product>
Tensor bias_add_in_next(Module& next, const Tensor& bias, int axis, Product product) {
  auto* taker = dynamic_cast<TakesBiasAdd*>(&next);
  if (taker == nullptr || !bias.defined() || !taker->takes_bias_add()) return Tensor();
  return taker->forward_bias_add(product(), bias, axis);
}

}  // namespace qtorch::nn
