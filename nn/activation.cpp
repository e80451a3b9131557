// Parameter-free layers: ReLU, Sigmoid, Tanh, Dropout and Flatten.
#include "qtorch/nn/activation.h"

#include <fmt/format.h>

#include "qtorch/autograd/activation.h"
#include "qtorch/core/error.h"

namespace qtorch::nn {

Tensor ReLU::forward(const Tensor& x) { return qtorch::relu(x); }
Tensor Sigmoid::forward(const Tensor& x) { return qtorch::sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return qtorch::tanh(x); }

Dropout::Dropout(float p) : p_(p) {
  QTORCH_CHECK(p >= 0.0f && p <= 1.0f, "Dropout: expected p in [0, 1], got {}", p);
}

Tensor Dropout::forward(const Tensor& x) {
  if (!is_training() || p_ == 0.0f) return x;
  return qtorch::dropout(x, p_, true);
}

std::string Dropout::extra_repr() const { return fmt::format("p={}", p_); }

Tensor Flatten::forward(const Tensor& x) { return x.flatten(start_, end_); }

}  // namespace qtorch::nn
