// The quantizer side of module fusion: taking a ReLU after the quantizer into its node.
#include "qtorch/nn/fusion.h"

#include "qtorch/nn/activation.h"

namespace qtorch::nn {

bool relu_first(std::span<Module* const> next) {
  return !next.empty() && is_exactly<ReLU>(*next.front());
}

FusedForward quantizer_fused_forward(const quant::FusedQuantizerFn& quantize, const Tensor& x,
                                     quant::QuantizerFusion fusion, std::span<Module* const> next) {
  fusion.relu = relu_first(next);
  return {quantize(x, fusion), fusion.relu ? size_t{1} : size_t{0}};
}

}  // namespace qtorch::nn
