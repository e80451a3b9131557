// How a container runs consecutive modules as fewer ops (Module::forward_fused): a layer
// hands its bias add to the quantizer after it (TakesBiasAdd), and a quantizer takes the
// ReLU after it in, so that Linear -> quantizer -> ReLU or Conv2d -> quantizer -> ReLU is one
// graph node (and, on a GPU, one pass forward and one backward) where it would be three.
#pragma once

#include <span>
#include <typeinfo>

#include "qtorch/nn/module.h"
#include "qtorch/quant/quantizer.h"

namespace qtorch::nn {

class TakesBiasAdd {
 public:
  virtual ~TakesBiasAdd() = default;
  /// What the module's forward gives on the layer's output, x plus a bias of shape
  /// [x.size(axis)] broadcast along `axis` (-1 for a linear layer, 1 for a convolution):
  /// the same values and the same gradients for x and the bias as the layer's own bias
  /// add, bit for bit; fused, as forward_fused would, with the first `taken` of `next` (the
  /// modules after this one). Hooks are the caller's business (the module's own are not run).
  /// Called only when takes_bias_add().
  virtual FusedForward forward_bias_add(const Tensor& x, const Tensor& bias, int axis,
                                        std::span<Module* const> next) = 0;
  /// Whether forward_bias_add can stand in for the layer's bias add now; asked before the
  /// layer computes anything, so that its own pass runs once either way.
  virtual bool takes_bias_add() const { return true; }
};

/// Whether m is exactly a T, not a subclass: a subclass may override forward(), which a
/// fused form would then skip.
template <class T>
bool is_exactly(const Module& m) {
  return typeid(m) == typeid(T);
}

/// A layer's forward_fused: when the first of `next` takes bias adds and the layer has a
/// bias, its forward_bias_add(product(), bias, axis, the rest), counting it as taken; else
/// {undefined, 0}, with product() never called.
template <class Product>
FusedForward bias_add_in_next(std::span<Module* const> next, const Tensor& bias, int axis, Product product) {
  auto* taker = next.empty() ? nullptr : dynamic_cast<TakesBiasAdd*>(next.front());
  if (taker == nullptr || !bias.defined() || !taker->takes_bias_add()) return {};
  FusedForward fused = taker->forward_bias_add(product(), bias, axis, next.subspan(1));
  ++fused.taken;
  return fused;
}

/// A quantizer module's fused forward: `quantize` (a quant::FusedQuantizerFn) on x with the
/// bias of `fusion`, taking in a ReLU when one is first in `next` (an nn::ReLU itself, not a
/// subclass that may compute something else).
FusedForward quantizer_fused_forward(const quant::FusedQuantizerFn& quantize, const Tensor& x,
                                     quant::QuantizerFusion fusion, std::span<Module* const> next);

/// Whether the first of `next` is an nn::ReLU.
bool relu_first(std::span<Module* const> next);

}  // namespace qtorch::nn
