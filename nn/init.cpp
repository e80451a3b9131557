// Weight initialisation as in PyTorch's torch.nn.init, from the global seeded generator.
#include "qtorch/nn/init.h"

#include <cmath>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"

namespace qtorch::nn::init {

double calculate_gain(Nonlinearity nonlinearity, double param) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Sigmoid:
      return 1.0;
    case Nonlinearity::Tanh:
      return 5.0 / 3.0;
    case Nonlinearity::ReLU:
      return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU:
      return std::sqrt(2.0 / (1.0 + param * param));
  }
  return 1.0;
}

std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& weight) {
  QTORCH_CHECK(weight.defined() && weight.dim() >= 2,
               "init: expected a weight of at least 2 dimensions to compute fans, got {}",
               weight.defined() ? shape_str(weight.shape()) : "an undefined tensor");
  int64_t receptive = 1;
  for (int64_t d = 2; d < weight.dim(); ++d) receptive *= weight.size(d);
  return {weight.size(1) * receptive, weight.size(0) * receptive};
}

static int64_t pick_fan(const Tensor& t, FanMode mode) {
  auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  int64_t fan = mode == FanMode::FanIn ? fan_in : fan_out;
  QTORCH_CHECK(fan > 0, "init: expected a nonzero fan, got shape {}", shape_str(t.shape()));
  return fan;
}

void uniform_(const Tensor& t, double a, double b) {
  NoGradGuard no_grad;
  Tensor dst = t;
  dst.copy_(rand(t.shape(), t.device()) * static_cast<float>(b - a) + static_cast<float>(a));
}

void normal_(const Tensor& t, double mean, double std) {
  NoGradGuard no_grad;
  Tensor dst = t;
  dst.copy_(randn(t.shape(), t.device()) * static_cast<float>(std) + static_cast<float>(mean));
}

void constant_(const Tensor& t, double value) {
  Tensor dst = t;
  dst.fill_(static_cast<float>(value));
}

void zeros_(const Tensor& t) { constant_(t, 0.0); }
void ones_(const Tensor& t) { constant_(t, 1.0); }

void xavier_uniform_(const Tensor& t, double gain) {
  auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  uniform_(t, -bound, bound);
}

void xavier_normal_(const Tensor& t, double gain) {
  auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)));
}

void kaiming_uniform_(const Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity) {
  double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(pick_fan(t, mode)));
  double bound = std::sqrt(3.0) * std;
  uniform_(t, -bound, bound);
}

void kaiming_normal_(const Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity) {
  double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(pick_fan(t, mode)));
  normal_(t, 0.0, std);
}

void default_layer_init_(const Tensor& weight, const Tensor& bias) {
  kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    double bound = 1.0 / std::sqrt(static_cast<double>(fan_in_and_fan_out(weight).first));
    uniform_(bias, -bound, bound);
  }
}

}  // namespace qtorch::nn::init
