// nn::BatchNorm1d and nn::BatchNorm2d, built from differentiable reductions and
// broadcasting elementwise ops; running statistics are updated in place without grad.
#include "qtorch/nn/batchnorm.h"

#include <fmt/format.h>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"

namespace qtorch::nn {

namespace {

void check_momentum(std::optional<double> momentum) {
  QTORCH_CHECK(!momentum || (*momentum >= 0 && *momentum <= 1),
               "BatchNorm: expected momentum in [0, 1] (or none, the cumulative average), got {}", momentum.value_or(0));
}

}  // namespace

void BatchNormBase::set_momentum(std::optional<double> momentum) {
  check_momentum(momentum);
  options_.momentum = momentum;
}

BatchNormBase::BatchNormBase(int64_t num_features, const BatchNormOptions& options)
    : features_(num_features), options_(options) {
  QTORCH_CHECK(num_features > 0, "BatchNorm: expected num_features > 0, got {}", num_features);
  QTORCH_CHECK(options.eps > 0, "BatchNorm: expected eps > 0, got {}", options.eps);
  check_momentum(options.momentum);
  if (options.affine) {
    register_parameter("weight", ones({num_features}));
    register_parameter("bias", zeros({num_features}));
  }
  if (options.track_running_stats) {
    register_buffer("running_mean", zeros({num_features}));
    register_buffer("running_var", ones({num_features}));
    // PyTorch's int64 count, here in float32 as every tensor: exact up to 2^24 batches.
    register_buffer("num_batches_tracked", zeros({}));
  }
}

void BatchNormBase::reset_running_stats() {
  if (!options_.track_running_stats) return;
  buffer("running_mean").zero_();
  buffer("running_var").fill_(1.0f);
  buffer("num_batches_tracked").zero_();
}

int64_t BatchNormBase::num_batches_tracked() const {
  return has_buffer("num_batches_tracked") ? static_cast<int64_t>(buffer("num_batches_tracked").item()) : 0;
}

std::vector<std::string> BatchNormBase::buffers_older_states_lack() const { return {"num_batches_tracked"}; }

Tensor BatchNormBase::forward(const Tensor& x) {
  check_input(x);
  // Reduce over every axis but the channel axis 1; broadcast [C] statistics as [1, C, 1...].
  Shape axes{0};
  Shape bshape(static_cast<size_t>(x.dim()), 1);
  bshape[1] = features_;
  for (int64_t d = 2; d < x.dim(); ++d) axes.push_back(d);
  int64_t n = x.numel() / features_;

  Tensor y;
  if (x.numel() == 0 && (is_training() || !options_.track_running_stats)) {
    // A batch of no samples, as PyTorch 1.13: an empty output, the running statistics as
    // they were, the batch counted.
    if (is_training() && options_.track_running_stats) {
      NoGradGuard no_grad;
      Tensor count = buffer("num_batches_tracked");
      ops::copy_into(count, ops::unary(UnaryOp::AddScalar, count, 1.0f));
    }
    y = x * 1.0f;
  } else if (is_training() || !options_.track_running_stats) {
    QTORCH_CHECK(n > 1, "{}: expected more than 1 value per channel in training, got input {}",
                 type_name(), shape_str(x.shape()));
    Tensor mu = mean(x, axes, true);
    Tensor xc = x - mu;
    Tensor var = mean(xc * xc, axes, true);
    y = xc / sqrt(var + static_cast<float>(options_.eps));
    if (is_training() && options_.track_running_stats) {
      NoGradGuard no_grad;
      Tensor count = buffer("num_batches_tracked");
      ops::copy_into(count, ops::unary(UnaryOp::AddScalar, count, 1.0f));  // on the device: no wait
      // The cumulative average reads the count back (on a GPU this waits, as in PyTorch).
      double f = options_.momentum ? *options_.momentum : 1.0 / static_cast<double>(count.item());
      Tensor rm = buffer("running_mean");
      Tensor rv = buffer("running_var");
      double unbias = static_cast<double>(n) / static_cast<double>(n - 1);
      rm.mul_(static_cast<float>(1.0 - f)).add_(mu.detach().reshape({features_}), static_cast<float>(f));
      rv.mul_(static_cast<float>(1.0 - f))
          .add_(var.detach().reshape({features_}), static_cast<float>(f * unbias));
    }
  } else {
    Tensor rm = buffer("running_mean").reshape(bshape);
    Tensor rv = buffer("running_var").reshape(bshape);
    y = (x - rm) / sqrt(rv + static_cast<float>(options_.eps));
  }
  if (options_.affine) y = y * weight().reshape(bshape) + bias().reshape(bshape);
  return y;
}

std::string BatchNormBase::extra_repr() const {
  std::string s = fmt::format("{}, eps={}", features_, options_.eps);
  s += options_.momentum ? fmt::format(", momentum={}", *options_.momentum) : ", momentum=None";
  if (!options_.affine) s += ", affine=false";
  if (!options_.track_running_stats) s += ", track_running_stats=false";
  return s;
}

void BatchNorm1d::check_input(const Tensor& x) const {
  QTORCH_CHECK(x.defined() && (x.dim() == 2 || x.dim() == 3) && x.size(1) == num_features(),
               "BatchNorm1d: expected input [N, {}] or [N, {}, L], got {}", num_features(),
               num_features(), x.defined() ? shape_str(x.shape()) : "an undefined tensor");
}

void BatchNorm2d::check_input(const Tensor& x) const {
  QTORCH_CHECK(x.defined() && x.dim() == 4 && x.size(1) == num_features(),
               "BatchNorm2d: expected input [N, {}, H, W], got {}", num_features(),
               x.defined() ? shape_str(x.shape()) : "an undefined tensor");
}

}  // namespace qtorch::nn
