// The quantize functions (qtorch.quant.*_quantize in Python): one generic entry that
// dispatches on the format value and the device; the three named functions call it.
// These are not differentiable; quant/quantizer.h makes the straight-through graph op.
#pragma once

#include <vector>

#include "qtorch/core/generator.h"
#include "qtorch/core/tensor.h"
#include "qtorch/quant/kernel_params.h"
#include "qtorch/quant/number.h"
#include "qtorch/quant/rounding.h"
#include "qtorch/quant/stats_counter.h"

namespace qtorch::quant {

/// Optional inputs and outputs of one quantize call.
struct QuantizeOptions {
  /// Random bits for Stochastic rounding; null means qtorch::default_generator(). The call
  /// reserves (numel + 3) / 4 Philox blocks from it (at least 1: an empty tensor too), so
  /// every call draws fresh bits.
  Generator* generator = nullptr;
  /// Set to this call's counts (clamped/saturated and flushed-to-zero elements). On a GPU
  /// this waits for the device; `counter` does not.
  QuantStats* stats = nullptr;
  /// Set to a tensor of x's shape holding 1 where the element was clamped or saturated
  /// (the clamp mask of docs/numerics.md), else 0. Made in the same pass.
  Tensor* mask = nullptr;
  /// This call's counts are added to it (unless it is paused) without waiting for the
  /// device; StatsCounter::read() gives the totals.
  StatsCounter* counter = nullptr;
};

/// Quantizes x (float32, any device, any strides) to `number`: a new contiguous tensor
/// on x's device. Validates the format (and a block's dim against x) first.
Tensor quantize(const Tensor& x, const Number& number, Rounding rounding = Rounding::Stochastic,
                const QuantizeOptions& options = {});

/// Like quantize, writing into `out` (contiguous, x's shape and device; may be x itself).
void quantize_into(const Tensor& x, const Tensor& out, const Number& number,
                   Rounding rounding = Rounding::Stochastic, const QuantizeOptions& options = {});

/// Elementwise ops that one quantize pass takes in (quantize_fused), each giving the bits
/// of its own op.
struct QuantizeFusion {
  /// Before quantizing: x plus this bias of shape [x.size(axis)] broadcast along `axis`
  /// (ops::add's rounding): a linear layer's output (axis -1) or a convolution's (axis 1).
  /// Undefined: none.
  Tensor bias = Tensor();
  int axis = -1;
  /// Before quantizing: where(gate, x, 0), x where gate is nonzero (NaN included) and +0
  /// elsewhere: ReLU's backward, gate being the ReLU's output. x's shape and device.
  /// Undefined: none. Not together with a bias.
  Tensor gate = Tensor();
  /// After quantizing: ReLU (relu_value, core/relu_math.h), as a ReLU after the quantizer.
  bool relu = false;
};

/// quantize() of x after the ops before it, then the op after it: the same bits, generator
/// offsets, mask and counts as the ops one by one (the mask and counts are those of the
/// quantization itself, of the value before a ReLU). On a GPU they are formed inside the
/// quantize pass where the layout allows: fixed and floating point and single-element
/// blocks (a bias on the last axis only), and block floating point whose blocks are
/// contiguous rows of at most 8192 elements (each spanning the bias, as a layer's output with
/// one block per sample): one launch and no intermediate tensor, where the ops one by one
/// take two or three. Elsewhere (and on the CPU) the ops run one by one. Throws
/// qtorch::Error for a bias or gate that does not fit x, or both.
Tensor quantize_fused(const Tensor& x, const QuantizeFusion& fusion, const Number& number,
                      Rounding rounding = Rounding::Stochastic, const QuantizeOptions& options = {});

/// quantize_fused(x, {.bias = bias, .axis = axis}, ...): quantize(x + bias) for a bias of
/// shape [x.size(axis)] broadcast along that axis (an undefined bias is an error).
Tensor quantize_bias_add(const Tensor& x, const Tensor& bias, int axis, const Number& number,
                         Rounding rounding = Rounding::Stochastic, const QuantizeOptions& options = {});
/// x + bias along `axis` (what quantize_bias_add quantizes), in a new tensor, with its
/// checks; not a graph node.
Tensor add_bias(const Tensor& x, const Tensor& bias, int axis);
/// `axis` of x made non-negative; throws, naming `what`, when it is out of range.
int64_t bias_axis(const Tensor& x, int axis, const char* what);

/// Quantizes every tensor of `xs` in place, as quantize_into(x, x, number, rounding, options)
/// on each in list order would (quantize then copy back for a non-contiguous x): the same
/// bits, the same generator offsets and the same counts. On a GPU the whole list takes one
/// launch when the format allows (fixed, float, and block floating point whose blocks are
/// contiguous rows of at most 8192 elements or single elements), where the calls one by one
/// take one launch each. `options.stats` gets the list's totals; `options.mask` must be null.
/// Tensors on different devices, or sharing storage, are quantized one by one.
void quantize_each_in_place(const std::vector<Tensor>& xs, const Number& number,
                            Rounding rounding = Rounding::Stochastic, const QuantizeOptions& options = {});

/// quantize(x, FixedPoint{wl, fl, clamp, symmetric}, rounding).
Tensor fixed_point_quantize(const Tensor& x, int wl, int fl, bool clamp = true,
                            bool symmetric = false, Rounding rounding = Rounding::Stochastic);
/// quantize(x, BlockFloatingPoint{wl, dim}, rounding).
Tensor block_quantize(const Tensor& x, int wl, int dim = -1,
                      Rounding rounding = Rounding::Stochastic);
/// quantize(x, FloatingPoint{exp, man}, rounding): the reference semantics.
Tensor float_quantize(const Tensor& x, int exp, int man, Rounding rounding = Rounding::Stochastic);

/// The kernel parameters of a format and rounding for a tensor of shape `shape` (the
/// shape matters only for block floating point). Validates; used by the device kernels.
QuantParams make_quant_params(const Number& number, Rounding rounding, const Shape& shape);

}  // namespace qtorch::quant
