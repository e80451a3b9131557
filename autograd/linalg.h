// Differentiable matrix products.
#pragma once

#include "qtorch/core/tensor.h"

namespace qtorch {

/// [M, K] x [K, N] -> [M, N]; batched [..., M, K] x [..., K, N] with broadcast batch axes.
Tensor matmul(const Tensor& a, const Tensor& b);
/// x [*, in] times weight [out, in] transposed, plus bias [out] when defined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace qtorch
