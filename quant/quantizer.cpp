// The quantizer graph node: forward y = Qf(x) (or Qf(x + bias), and a ReLU after when fused);
// backward g -> (the ReLU's backward) -> hooks -> Qb -> clamp mask.
#include "qtorch/quant/quantizer.h"

#include "qtorch/autograd/grad_mode.h"
#include "qtorch/autograd/node.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/quant/quantize.h"

namespace qtorch::quant {
namespace {

void check_options(const QuantizerOptions& o) {
  if (o.forward_number) validate(*o.forward_number);
  if (o.backward_number) validate(*o.backward_number);
  check_rounding(o.forward_rounding, "quantizer: forward_rounding");
  check_rounding(o.backward_rounding, "quantizer: backward_rounding");
  for (size_t i = 0; i < o.backward_hooks.size(); ++i)
    QTORCH_CHECK(static_cast<bool>(o.backward_hooks[i]), "quantizer: expected backward hook {} to be a function, got an empty one", i);
  if (!o.clamping_grad_zero) return;
  QTORCH_CHECK(o.forward_number.has_value(),
               "quantizer: clamping_grad_zero expected a forward number that clamps, got none");
  const Number& f = *o.forward_number;
  if (auto* fixed = std::get_if<FixedPoint>(&f)) {
    QTORCH_CHECK(fixed->clamp,
                 "quantizer: clamping_grad_zero expected a clamping forward format, got {}",
                 to_string(f));
  } else if (auto* fp = std::get_if<FloatingPoint>(&f)) {
    QTORCH_CHECK(fp->saturate && std::isfinite(fp->max_value()),
                 "quantizer: clamping_grad_zero expected a clamping forward format (fixed point "
                 "with clamp, a saturating floating point, MX or NVFP4), got {}",
                 to_string(f));
  } else if (!std::holds_alternative<MXFormat>(f) && !std::holds_alternative<NVFP4Format>(f)) {
    // MX and NVFP4 elements saturate: their mask marks the saturated elements.
    QTORCH_FAIL(
        "quantizer: clamping_grad_zero expected a clamping forward format (fixed point with "
        "clamp, a saturating floating point, MX or NVFP4), got {}",
        to_string(f));
  }
}

/// g with +0 where the forward clamp mask is set (masked_fill(mask, 0) in the reference: +0
/// whatever g holds there, inf and NaN included); g itself without a mask.
Tensor zero_where_clamped(const Tensor& mask, const Tensor& g) {
  return mask.defined() ? ops::where(mask, zeros({}, g.device()), g) : g;
}

/// The gradient the quantizer passes back: the hooks, the backward quantization, then the
/// clamp mask (1 where the forward value was clamped; undefined without one).
Tensor quantizer_backward(const QuantizerOptions& o, const Tensor& mask, const Tensor& grad_output) {
  Tensor g = grad_output;
  for (const auto& hook : o.backward_hooks) {
    g = hook(g);
    QTORCH_CHECK(g.defined() && g.shape() == grad_output.shape(),
                 "quantizer: expected a backward hook to return a gradient of shape {}, got {}",
                 shape_str(grad_output.shape()), g.defined() ? shape_str(g.shape()) : "none");
  }
  if (o.backward_number) {
    QuantizeOptions qo{.generator = o.generator.get(), .counter = o.backward_counter.get()};
    g = quantize(g, *o.backward_number, o.backward_rounding, qo);
  }
  return zero_where_clamped(mask, g);
}

/// The gradient a fused node passes back: through the ReLU's backward first when it took
/// the ReLU in (y its output), then as the quantizer's. Without hooks, the ReLU's backward
/// goes into the backward quantization's pass (quantize_fused's gate).
Tensor fused_backward(const QuantizerOptions& o, const Tensor& mask, const Tensor& relu_out, const Tensor& grad_output) {
  if (!relu_out.defined()) return quantizer_backward(o, mask, grad_output);
  if (o.backward_hooks.empty() && o.backward_number) {
    QuantizeOptions qo{.generator = o.generator.get(), .counter = o.backward_counter.get()};
    return zero_where_clamped(mask, quantize_fused(grad_output, QuantizeFusion{.gate = relu_out},
                                                   *o.backward_number, o.backward_rounding, qo));
  }
  return quantizer_backward(o, mask, ops::where(relu_out, grad_output, zeros({}, grad_output.device())));
}

/// The quantizer on x, with a bias added first and a ReLU after when `fusion` asks: one
/// graph node either way, with the backward pass beside it.
Tensor apply(const std::shared_ptr<const QuantizerOptions>& options, const Tensor& x, const QuantizerFusion& fusion) {
  const QuantizerOptions& o = *options;
  QTORCH_CHECK(x.defined(), "quantizer: expected a defined tensor, got an undefined one");
  const Tensor& bias = fusion.bias;
  const bool recording = any_requires_grad({&x, &bias});
  Tensor mask;
  Tensor y;
  {
    NoGradGuard no_grad;
    if (o.forward_number) {
      QuantizeOptions qo{.generator = o.generator.get(),
                         .mask = recording && o.clamping_grad_zero ? &mask : nullptr,
                         .counter = o.forward_counter.get()};
      y = quantize_fused(x, QuantizeFusion{.bias = bias, .axis = fusion.axis, .relu = fusion.relu},
                         *o.forward_number, o.forward_rounding, qo);
    } else {
      y = bias.defined() ? add_bias(x, bias, fusion.axis) : x.detach();
      if (fusion.relu) y = ops::unary(UnaryOp::Relu, y);
    }
  }
  if (!recording) return y;
  const SavedTensor relu_out = fusion.relu ? save(y) : SavedTensor();  // saved before it is recorded
  if (bias.defined()) {
    // The sum's gradient goes to x and, summed over the other axes, to the bias: on the last
    // axis as an add node on the [rows, features] view sums it (the engine's sum_to_shape,
    // as a linear layer's bias add), on another axis with ops::sum over the rest (as a
    // convolution's bias gradient).
    const int64_t a = bias_axis(x, fusion.axis, "quantizer");
    return record(fusion.relu ? "quantizer_bias_add_relu" : "quantizer_bias_add", y, {x, bias},
                  [options, mask, relu_out, a](const Tensor& grad_output, const Node& n) -> Grads {
                    Tensor g = fused_backward(*options, mask, relu_out.get(), grad_output);
                    if (!n.needs_input_grad(1)) return {g, Tensor()};
                    const int64_t dims = g.dim();
                    if (a == dims - 1) return {g, dims == 2 ? g : g.reshape({-1, g.size(a)})};
                    std::vector<int64_t> others;
                    for (int64_t d = 0; d < dims; ++d)
                      if (d != a) others.push_back(d);
                    return {g, ops::sum(g, others)};
                  });
  }
  // A fresh handle, so the node's output is never the caller's tensor itself.
  if (y.is_same(x) || (!o.forward_number && !fusion.relu)) y = as_strided(y, y.shape(), y.strides(), y.offset());
  // Straight-through: backward ignores the forward rounding except for the mask.
  return record(fusion.relu ? "quantizer_relu" : "quantizer", y, {x},
                [options, mask, relu_out](const Tensor& grad_output, const Node&) -> Grads {
                  return {fused_backward(*options, mask, relu_out.get(), grad_output)};
                });
}

}  // namespace

QuantizerForms quantizer_forms(QuantizerOptions options) {
  check_options(options);
  auto shared = std::make_shared<const QuantizerOptions>(std::move(options));
  return {.plain = [shared](const Tensor& x) { return apply(shared, x, QuantizerFusion{}); },
          .fused = [shared](const Tensor& x, const QuantizerFusion& fusion) { return apply(shared, x, fusion); }};
}

QuantizerFn quantizer(QuantizerOptions options) { return quantizer_forms(std::move(options)).plain; }

FusedQuantizerFn fused_quantizer(QuantizerOptions options) { return quantizer_forms(std::move(options)).fused; }

Tensor quantize_ste(const Tensor& x, const QuantizerOptions& options) {
  return quantizer(options)(x);
}

}  // namespace qtorch::quant
