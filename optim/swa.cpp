// optim::SWA running average of weights and the batch-norm statistics recompute.
#include "qtorch/optim/swa.h"

#include <optional>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"
#include "qtorch/nn/batchnorm.h"

namespace qtorch::optim {

SWA::SWA(const std::shared_ptr<nn::Module>& model, int64_t start, int64_t frequency)
    : model_(model), start_(start), frequency_(frequency) {
  QTORCH_CHECK(model != nullptr, "SWA: expected a model, got null");
  QTORCH_CHECK(start >= 0 && frequency > 0, "SWA: expected start >= 0 and frequency > 0, got {} and {}",
               start, frequency);
  averaged_ = model->clone();
}

bool SWA::update(int64_t step) {
  if (step < start_ || (step - start_) % frequency_ != 0) return false;
  update_now();
  return true;
}

void SWA::update_now() {
  NoGradGuard no_grad;
  std::vector<Tensor> src = model_->parameters();
  std::vector<Tensor> avg = averaged_->parameters();
  QTORCH_CHECK(src.size() == avg.size(), "SWA.update: expected {} parameters, got {}", avg.size(),
               src.size());
  // avg + (p - avg) * (1 / (n + 1)). PyTorch's AveragedModel divides by n + 1: each update can
  // differ by an ulp, and the differences accumulate (the s26 audit: about half the elements
  // after 7 to 50 updates, up to a few hundred ulp near zero; both as close to the exact mean).
  // Left as it is while the published reproduction figures (3a, 3b) depend on it.
  const float w = 1.0f / static_cast<float>(count_ + 1);
  for (size_t i = 0; i < src.size(); ++i) {
    if (count_ == 0) {
      avg[i].copy_(src[i]);
    } else {
      avg[i].add_(src[i] - avg[i], w);
    }
  }
  ++count_;
}

void update_bn(nn::Module& model, const BatchFeeder& feed) {
  std::vector<std::pair<nn::BatchNormBase*, std::optional<double>>> norms;
  model.apply([&](nn::Module& m) {
    auto* bn = dynamic_cast<nn::BatchNormBase*>(&m);
    if (bn == nullptr || !bn->options().track_running_stats) return;
    norms.emplace_back(bn, bn->options().momentum);
    bn->reset_running_stats();
    bn->set_momentum(std::nullopt);
  });
  if (norms.empty()) return;
  bool was_training = model.is_training();
  model.train(true);
  {
    NoGradGuard no_grad;
    feed([&](const Tensor& batch) { model(batch); });
  }
  for (auto& [bn, momentum] : norms) bn->set_momentum(momentum);
  model.train(was_training);
}

void update_bn(nn::Module& model, const std::vector<Tensor>& batches) {
  update_bn(model, [&](const std::function<void(const Tensor&)>& run) {
    for (const auto& b : batches) run(b);
  });
}

}  // namespace qtorch::optim
