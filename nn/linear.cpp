// nn::Linear: y = x W^T + b, initialised as PyTorch does.
#include "qtorch/nn/linear.h"

#include <fmt/format.h>

#include "qtorch/autograd/linalg.h"
#include "qtorch/core/error.h"
#include "qtorch/nn/init.h"
#include "qtorch/nn/fusion.h"

namespace qtorch::nn {

Linear::Linear(int64_t in_features, int64_t out_features, const LinearOptions& options)
    : in_(in_features), out_(out_features) {
  QTORCH_CHECK(in_features > 0 && out_features > 0,
               "Linear: expected positive in and out features, got {} -> {}", in_features,
               out_features);
  Tensor w = empty({out_features, in_features});
  Tensor b = options.bias ? empty({out_features}) : Tensor();
  init::default_layer_init_(w, b);
  register_parameter("weight", w);
  if (options.bias) register_parameter("bias", b);
}

namespace {

void check_input(const Tensor& x, int64_t in) {
  QTORCH_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == in, "Linear: expected input [*, {}], got {}", in,
               x.defined() ? shape_str(x.shape()) : "an undefined tensor");
}

}  // namespace

Tensor Linear::forward(const Tensor& x) {
  check_input(x, in_);
  return linear(x, weight(), bias());
}

Tensor Linear::product(const Tensor& x) {
  check_input(x, in_);
  return linear(x, weight(), Tensor());
}

bool Linear::forward_is_product_plus_bias() const { return is_exactly<Linear>(*this); }

FusedForward Linear::forward_fused(std::span<Module* const> next, const Tensor& x) {
  if (!forward_is_product_plus_bias()) return {};
  return bias_add_in_next(next, bias(), -1, [&] { return product(x); });
}

std::string Linear::extra_repr() const {
  return fmt::format("{} -> {}{}", in_, out_, has_parameter("bias") ? "" : ", bias=false");
}

}  // namespace qtorch::nn
