// Differentiable losses.
#pragma once

#include <string>

#include "qtorch/core/tensor.h"

namespace qtorch {

enum class Reduction { Mean, Sum, None };

/// logits [N, C], targets [N] holding class indices as floats in [0, C). A batch of no
/// samples (N = 0) is refused, where PyTorch gives NaN (Mean), 0 (Sum) or an empty tensor
/// (None): a training step should not take a NaN loss silently. So is nll_loss's.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets,
                     Reduction reduction = Reduction::Mean, float label_smoothing = 0.0f);
/// log_probs [N, C], targets [N].
Tensor nll_loss(const Tensor& log_probs, const Tensor& targets, Reduction reduction = Reduction::Mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

}  // namespace qtorch
