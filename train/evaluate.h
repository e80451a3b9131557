// Loss and accuracy of a model over a whole data set, in eval mode and without gradients,
// and the running sums a training epoch keeps on the device.
#pragma once

#include <cstdint>

#include "qtorch/core/device.h"
#include "qtorch/core/tensor.h"
#include "qtorch/data/mnist.h"
#include "qtorch/nn/module.h"

namespace qtorch::train {

struct Score {
  double loss = 0;      ///< mean cross-entropy
  double accuracy = 0;  ///< share of correct top-1 predictions
  int64_t correct = 0, samples = 0;
};

/// Sums of loss and correct predictions, kept as device tensors so that adding a batch
/// never waits for the device; read() waits once.
class RunningScore {
 public:
  explicit RunningScore(Device device);
  /// Adds a batch: `loss` is the batch's mean loss, `logits` [n, classes], `labels` [n].
  void add(const Tensor& loss, const Tensor& logits, const Tensor& labels);
  int64_t samples() const { return samples_; }
  /// Mean loss so far (waits for the device).
  double mean_loss() const;
  Score read() const;

 private:
  Tensor loss_sum_, correct_;
  int64_t samples_ = 0;
};

/// Evaluates `model` on `data` in batches of `batch_size` (views of the data set, moved to
/// `device` when it is not the CPU). Restores the model's training mode afterwards.
Score evaluate(nn::Module& model, const data::Dataset& data, int64_t batch_size,
               Device device);

}  // namespace train
