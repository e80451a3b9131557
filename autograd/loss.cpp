// Differentiable losses: cross-entropy (with label smoothing), NLL and MSE.
#include "qtorch/autograd/loss.h"

#include "qtorch/autograd/activation.h"
#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/node.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"

namespace qtorch {
namespace {

// picked[r] = x[r, target[r]]; a bad class index is reported as the user's op (`op`).
Tensor gather_rows(const Tensor& x, const Tensor& target, const char* op) {
  Tensor out;
  try {
    out = ops::gather_rows(x, target);
  } catch (const Error& e) {
    const std::string m = e.what(), internal = "gather_rows: ";
    throw Error(m.rfind(internal, 0) == 0 ? op + (": " + m.substr(internal.size())) : m);
  }
  if (!any_requires_grad({&x})) return out;  // target is not differentiated
  return record("gather_rows", out, {x, target.detach()},
                [target = save(target), cols = x.size(1)](const Tensor& g, const Node&) -> Grads {
                  return {ops::scatter_rows(g, target.get(), cols), Tensor()};
                });
}

Tensor reduce(const Tensor& per_sample, Reduction reduction) {
  switch (reduction) {
    case Reduction::Mean: return mean(per_sample);
    case Reduction::Sum: return sum(per_sample);
    case Reduction::None: return per_sample;
  }
  return per_sample;
}

void check_classification(const char* op, const Tensor& scores, const Tensor& targets) {
  QTORCH_CHECK(scores.defined() && scores.dim() == 2 && scores.size(0) > 0,
               "{}: expected input [N, C] with N > 0, got {}", op,
               scores.defined() ? shape_str(scores.shape()) : "undefined");
  QTORCH_CHECK(targets.defined() && targets.dim() == 1 && targets.size(0) == scores.size(0),
               "{}: expected targets [{}] for input {}, got {}", op, scores.size(0),
               shape_str(scores.shape()), targets.defined() ? shape_str(targets.shape()) : "undefined");
  ops::check_same_device(op, {&scores, &targets});
}

}  // namespace

Tensor nll_loss(const Tensor& log_probs, const Tensor& targets, Reduction reduction) {
  check_classification("nll_loss", log_probs, targets);
  return reduce(-gather_rows(log_probs, targets, "nll_loss"), reduction);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, Reduction reduction, float label_smoothing) {
  check_classification("cross_entropy", logits, targets);
  QTORCH_CHECK(label_smoothing >= 0.0f && label_smoothing <= 1.0f,
               "cross_entropy: expected label_smoothing in [0, 1], got {}", label_smoothing);
  Tensor logp = log_softmax(logits, 1);
  Tensor nll = -gather_rows(logp, targets, "cross_entropy");
  if (label_smoothing > 0.0f) {
    // (1 - e) * nll + e * mean over classes of -log p, as PyTorch.
    Tensor smooth = -mean(logp, {1});
    nll = nll * (1.0f - label_smoothing) + smooth * label_smoothing;
  }
  return reduce(nll, reduction);
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  QTORCH_CHECK(input.defined() && target.defined() && input.shape() == target.shape(),
               "mse_loss: expected input and target of the same shape, got {} and {}",
               input.defined() ? shape_str(input.shape()) : "undefined",
               target.defined() ? shape_str(target.shape()) : "undefined");
  Tensor d = input - target;
  return reduce(d * d, reduction);
}

}  // namespace qtorch
