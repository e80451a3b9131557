// Differentiable activations, softmax and dropout.
#pragma once

#include "qtorch/core/tensor.h"

namespace qtorch {

Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor softmax(const Tensor& x, int64_t axis = -1);
Tensor log_softmax(const Tensor& x, int64_t axis = -1);
/// Zeroes each element with probability p and scales the rest by 1/(1-p) when training;
/// the identity otherwise. The mask comes from the global seeded generator.
Tensor dropout(const Tensor& x, float p, bool training = true);

}  // namespace qtorch
