// Loss modules: CrossEntropyLoss (mean/sum, label smoothing) and MSELoss.
#pragma once

#include "qtorch/autograd/loss.h"
#include "qtorch/core/tensor.h"

namespace qtorch::nn {

struct CrossEntropyLossOptions {
  Reduction reduction = Reduction::Mean;
  float label_smoothing = 0.0f;
};

/// loss(logits [N, C], targets [N] of class indices as floats).
class CrossEntropyLoss {
 public:
  explicit CrossEntropyLoss(const CrossEntropyLossOptions& options = {});
  Tensor forward(const Tensor& logits, const Tensor& targets) const;
  Tensor operator()(const Tensor& logits, const Tensor& targets) const {
    return forward(logits, targets);
  }
  const CrossEntropyLossOptions& options() const { return options_; }

 private:
  CrossEntropyLossOptions options_;
};

struct MSELossOptions {
  Reduction reduction = Reduction::Mean;
};

/// Mean (or sum) of squared differences of same-shaped tensors.
class MSELoss {
 public:
  explicit MSELoss(const MSELossOptions& options = {}) : options_(options) {}
  Tensor forward(const Tensor& input, const Tensor& target) const;
  Tensor operator()(const Tensor& input, const Tensor& target) const {
    return forward(input, target);
  }

 private:
  MSELossOptions options_;
};

}  // namespace qtorch::nn
