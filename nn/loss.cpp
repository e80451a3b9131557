// Loss modules: CrossEntropyLoss (mean/sum, label smoothing) and MSELoss.
#include "qtorch/nn/loss.h"

#include "qtorch/core/error.h"

namespace qtorch::nn {

CrossEntropyLoss::CrossEntropyLoss(const CrossEntropyLossOptions& options) : options_(options) {
  QTORCH_CHECK(options.label_smoothing >= 0.0f && options.label_smoothing <= 1.0f,
               "CrossEntropyLoss: expected label_smoothing in [0, 1], got {}",
               options.label_smoothing);
}

Tensor CrossEntropyLoss::forward(const Tensor& logits, const Tensor& targets) const {
  return cross_entropy(logits, targets, options_.reduction, options_.label_smoothing);
}

Tensor MSELoss::forward(const Tensor& input, const Tensor& target) const {
  return mse_loss(input, target, options_.reduction);
}

}  // namespace qtorch::nn
