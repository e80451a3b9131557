// Evaluation over a data set and the device-side running sums.
#include "examples/qtrain/evaluate.h"

#include "autograd/elementwise.h"
#include "autograd/grad_mode.h"
#include "autograd/reduce.h"
#include "data/loader.h"
#include "nn/loss.h"

namespace qtrain {

using qtorch::Tensor;

RunningScore::RunningScore(qtorch::Device device)
    : loss_sum_(qtorch::zeros({}, device)), correct_(qtorch::zeros({}, device)) {}

void RunningScore::add(const Tensor& loss, const Tensor& logits, const Tensor& labels) {
  qtorch::NoGradGuard no_grad;
  const int64_t n = labels.size(0);
  loss_sum_.add_(loss.detach(), static_cast<float>(n));
  correct_.add_(qtorch::sum(qtorch::eq(qtorch::argmax(logits.detach(), -1), labels)));
  samples_ += n;
}

double RunningScore::mean_loss() const {
  return samples_ > 0 ? loss_sum_.item() / static_cast<double>(samples_) : 0.0;
}

Score RunningScore::read() const {
  if (samples_ == 0) return {};
  return {loss_sum_.item() / static_cast<double>(samples_),
          correct_.item() / static_cast<double>(samples_)};
}

Score evaluate(qtorch::nn::Module& model, const qtorch::data::Dataset& data, int64_t batch_size,
               qtorch::Device device) {
  qtorch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  qtorch::data::DataLoader loader(data, {.batch_size = batch_size, .shuffle = false, .device = device});
  qtorch::nn::CrossEntropyLoss criterion;
  RunningScore score(device);
  qtorch::data::Batch batch;
  while (loader.next(batch)) {
    Tensor logits = model.forward(batch.images);
    score.add(criterion(logits, batch.labels), logits, batch.labels);
  }
  model.train(was_training);
  return score.read();
}

}  // namespace qtrain
