// quantizer(): the straight-through quantization op (qtorch.quant.quantizer): forward
// quantizes with one format, backward runs hooks, quantizes the gradient with another
// format and optionally zeroes the gradient where the forward pass clamped.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "qtorch/core/generator.h"
#include "qtorch/core/tensor.h"
#include "qtorch/quant/kernel_params.h"
#include "qtorch/quant/number.h"
#include "qtorch/quant/rounding.h"
#include "qtorch/quant/stats_counter.h"

namespace qtorch::quant {

/// The six options of the Python quantizer, plus an optional own generator.
struct QuantizerOptions {
  /// Forward format; empty: the forward pass is the identity.
  std::optional<Number> forward_number = std::nullopt;
  /// Gradient format; empty: the gradient is not quantized.
  std::optional<Number> backward_number = std::nullopt;
  Rounding forward_rounding = Rounding::Stochastic;
  Rounding backward_rounding = Rounding::Stochastic;
  /// Zero the gradient where the forward value was clamped. Needs a forward format that
  /// clamps: fixed point with clamp=true, a saturating floating point format, MX or NVFP4
  /// (their elements saturate at the element's max).
  bool clamping_grad_zero = false;
  /// Applied in order to the incoming gradient, before backward quantization (always,
  /// unlike the reference, which skips them unless clamping_grad_zero and a backward number).
  std::vector<std::function<Tensor(const Tensor&)>> backward_hooks = {};
  /// Random bits for both directions; null: qtorch::default_generator() (the calling
  /// thread's). A copy of the quantizer (Module::clone) shares this generator: give a copy
  /// used in another thread a Generator of its own.
  std::shared_ptr<Generator> generator = nullptr;
  /// Each forward / backward quantization adds its counts of clamped (saturated) and
  /// flushed-to-zero elements to these, without waiting for the device, e.g. to report
  /// saturation inside backward quantizers to a dynamic loss scaler as overflow once per
  /// step. Counting costs nothing when unset.
  std::shared_ptr<StatsCounter> forward_counter = nullptr;
  std::shared_ptr<StatsCounter> backward_counter = nullptr;
};

/// A quantizer: Tensor -> Tensor. Adds one node to the graph when the input requires grad.
using QuantizerFn = std::function<Tensor(const Tensor&)>;

/// Validates the options (formats; clamping_grad_zero with block floating point, a
/// non-clamping fixed point, a non-saturating float format or no forward number throws
/// qtorch::Error here) and returns the quantization function.
QuantizerFn quantizer(QuantizerOptions options);

/// What one quantizer node takes in beside its quantization: the ops next to it, each as
/// its own node would give it.
struct QuantizerFusion {
  /// Added before quantizing: a bias of shape [x.size(axis)] broadcast along `axis`, a linear
  /// layer's (axis -1, the sum as the layer's add node on the [rows, features] view forms it)
  /// or a convolution's (axis 1). Undefined: none.
  Tensor bias = Tensor();
  int axis = -1;
  /// A ReLU after the quantizer (nn::ReLU's op, qtorch::relu).
  bool relu = false;
};

/// A quantizer that takes the ops next to it into its node: fn(x, fusion) gives what
/// relu(quantizer(options)(x + bias)) gives (each part only when `fusion` asks for it): the
/// same values, the same gradients for x and the bias, the same hooks (they see the gradient
/// after the ReLU's backward, as the quantizer's own would), mask and counts, bit for bit.
/// It is one graph node where the ops one by one are two or three, and on a GPU the bias,
/// the ReLU and, without hooks, the ReLU's backward go into the quantize passes where the
/// layout allows (quant::quantize_fused). Validates the options as quantizer() does.
using FusedQuantizerFn = std::function<Tensor(const Tensor& x, const QuantizerFusion& fusion)>;
FusedQuantizerFn fused_quantizer(QuantizerOptions options);

/// Both forms over one copy of the options, for a module that offers both: a backward hook
/// that keeps state is then one object for every call, whichever form makes it.
struct QuantizerForms {
  QuantizerFn plain;
  FusedQuantizerFn fused;
};
QuantizerForms quantizer_forms(QuantizerOptions options);

/// The same op applied once: quantizer(options)(x).
Tensor quantize_ste(const Tensor& x, const QuantizerOptions& options);

}  // namespace qtorch::quant
