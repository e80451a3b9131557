// nn::Quantizer: forwards to the quantizer function made once from its options.
#include "qtorch/nn/quantizer_module.h"

#include <fmt/format.h>

namespace qtorch::nn {

Quantizer::Quantizer(quant::QuantizerOptions options)
    : options_(std::move(options)), fns_(quant::quantizer_forms(options_)) {}

Tensor Quantizer::forward(const Tensor& x) { return fns_.plain(x); }

FusedForward Quantizer::forward_fused(std::span<Module* const> next, const Tensor& x) {
  if (!fuses() || !relu_first(next)) return {};
  return quantizer_fused_forward(fns_.fused, x, {}, next);
}

FusedForward Quantizer::forward_bias_add(const Tensor& x, const Tensor& bias, int axis,
                                         std::span<Module* const> next) {
  return quantizer_fused_forward(fns_.fused, x, {.bias = bias, .axis = axis}, next);
}

std::string Quantizer::extra_repr() const {
  std::string s =
      fmt::format("forward={} {}, backward={} {}", number_text(options_.forward_number),
                  rounding_name(options_.forward_rounding), number_text(options_.backward_number),
                  rounding_name(options_.backward_rounding));
  if (options_.clamping_grad_zero) s += ", clamping_grad_zero";
  if (!options_.backward_hooks.empty())
    s += fmt::format(", hooks={}", options_.backward_hooks.size());
  return s;
}

}  // namespace qtorch::nn
