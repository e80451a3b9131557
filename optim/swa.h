// optim::SWA: a running average of a model's weights (stochastic weight averaging, as
// SWALP uses), and update_bn to recompute batch-norm statistics for the averaged model.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "qtorch/nn/module.h"

namespace qtorch::optim {

/// Keeps a deep copy of the model whose parameters are the average of every snapshot
/// given to update() from step `start` on (every `frequency` steps).
class SWA {
 public:
  SWA(const std::shared_ptr<nn::Module>& model, int64_t start = 0, int64_t frequency = 1);

  /// Call once per step (or epoch) with the current step: averages the model's weights
  /// in when step >= start and (step - start) % frequency == 0. Returns whether it did.
  bool update(int64_t step);
  /// Averages the model's current weights in unconditionally: avg += (w - avg) / (n + 1).
  void update_now();
  /// The averaged model (same architecture as the source; its buffers are the source's
  /// at construction until update_bn recomputes them).
  std::shared_ptr<nn::Module> averaged_model() const { return averaged_; }
  int64_t count() const { return count_; }
  void set_count(int64_t n) { count_ = n; }

 private:
  std::shared_ptr<nn::Module> model_;
  std::shared_ptr<nn::Module> averaged_;
  int64_t start_, frequency_, count_ = 0;
};

/// Feeds batches to a callback; update_bn passes it the function that runs one batch.
using BatchFeeder = std::function<void(const std::function<void(const Tensor&)>& run_batch)>;

/// Recomputes the running statistics of every BatchNorm in `model`: resets them, runs
/// each batch forward in training mode without gradients, with a cumulative average
/// (momentum = None), then restores the momenta and the model's mode.
void update_bn(nn::Module& model, const BatchFeeder& feed);
void update_bn(nn::Module& model, const std::vector<Tensor>& batches);

}  // namespace qtorch::optim
