// Evaluation over a data set and the device-side running sums.
#include "qtorch/train/evaluate.h"

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/error.h"
#include "qtorch/data/loader.h"
#include "qtorch/nn/loss.h"

namespace qtorch::train {

RunningScore::RunningScore(Device device)
    : loss_sum_(zeros({}, device)), correct_(zeros({}, device)) {}

void RunningScore::add(const Tensor& loss, const Tensor& logits, const Tensor& labels) {
  QTORCH_CHECK(loss.defined() && loss.numel() == 1 && logits.defined() && labels.defined() && labels.dim() == 1 &&
                   logits.dim() == 2 && logits.size(0) == labels.size(0),
               "RunningScore::add: expected a loss of one element, logits [N, C] and labels [N], got {}, {} and {}",
               loss.defined() ? shape_str(loss.shape()) : "undefined",
               logits.defined() ? shape_str(logits.shape()) : "undefined",
               labels.defined() ? shape_str(labels.shape()) : "undefined");
  NoGradGuard no_grad;
  const int64_t n = labels.size(0);
  loss_sum_.add_(loss.detach(), static_cast<float>(n));
  correct_.add_(sum(eq(argmax(logits.detach(), -1), labels)));
  samples_ += n;
}

double RunningScore::mean_loss() const {
  return samples_ > 0 ? loss_sum_.item() / static_cast<double>(samples_) : 0.0;
}

Score RunningScore::read() const {
  if (samples_ == 0) return {};
  const double correct = correct_.item();
  return {loss_sum_.item() / static_cast<double>(samples_), correct / static_cast<double>(samples_),
          static_cast<int64_t>(correct), samples_};
}

Score evaluate(nn::Module& model, const data::Dataset& data, int64_t batch_size,
               Device device) {
  NoGradGuard no_grad;
  // The model's mode comes back however evaluation ends (an error included).
  struct RestoreMode {
    nn::Module& model;
    bool was_training;
    ~RestoreMode() { model.train(was_training); }
  } restore{model, model.is_training()};
  model.eval();
  data::DataLoader loader(data, {.batch_size = batch_size, .shuffle = false, .device = device});
  nn::CrossEntropyLoss criterion;
  RunningScore score(device);
  data::Batch batch;
  while (loader.next(batch)) {
    Tensor logits = model(batch.images);
    score.add(criterion(logits, batch.labels), logits, batch.labels);
  }
  return score.read();
}

}  // namespace qtorch::train
