// nn::TakesBiasAdd: a module that can add a linear layer's bias inside its own op, so that
// Linear -> quantizer runs as one graph node (and, on a GPU, one pass) for the bias add and
// the quantization. Linear::forward_fused_with hands it the product and the bias.
#pragma once

#include "qtorch/core/tensor.h"

namespace qtorch::nn {

class TakesBiasAdd {
 public:
  virtual ~TakesBiasAdd() = default;
  /// What the module's forward(x + bias) gives, for a bias of shape [x.size(-1)] broadcast
  /// along x's last dimension: the same values and the same gradients for x and the bias,
  /// bit for bit. Hooks are the caller's business (the module's own are not run).
  virtual Tensor forward_bias_add(const Tensor& x, const Tensor& bias) = 0;
};

}  // namespace qtorch::nn
