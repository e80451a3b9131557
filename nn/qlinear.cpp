// nn::QLinear: Linear with qmatmul's chains.
#include "qtorch/nn/qlinear.h"

#include <fmt/format.h>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/core/error.h"
#include "qtorch/nn/fusion.h"

namespace qtorch::nn {

std::string mac_or_fp32(const std::optional<quant::MacOptions>& options) {
  return options ? quant::mac_text(*options) : "fp32";
}

QLinear::QLinear(int64_t in_features, int64_t out_features, std::optional<quant::MacOptions> forward,
                 std::optional<quant::MacOptions> backward, const LinearOptions& options)
    : Linear(in_features, out_features, options), forward_(std::move(forward)), backward_(std::move(backward)) {
  if (forward_) forward_->validate();
  if (backward_) backward_->validate();
}

QLinear::QLinear(const Linear& linear, std::optional<quant::MacOptions> forward,
                 std::optional<quant::MacOptions> backward)
    : Linear(linear), forward_(std::move(forward)), backward_(std::move(backward)) {
  if (forward_) forward_->validate();
  if (backward_) backward_->validate();
}

Tensor QLinear::product(const Tensor& x) {
  QTORCH_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == in_features(),
               "QLinear: expected input [*, {}], got {}", in_features(),
               x.defined() ? shape_str(x.shape()) : "an undefined tensor");
  const Tensor x2 = x.dim() == 2 ? x : x.reshape({-1, in_features()});
  const Tensor y = quant::qmatmul(x2, weight().transpose(0, 1), forward_, backward_);
  if (x.dim() == 2) return y;
  Shape shape = x.shape();
  shape.back() = out_features();
  return y.reshape(shape);
}

bool QLinear::forward_is_product_plus_bias() const { return is_exactly<QLinear>(*this); }

Tensor QLinear::forward(const Tensor& x) {
  const Tensor y = product(x);
  if (!bias().defined()) return y;
  // The bias added on the [rows, out] view, as linear() adds it.
  if (y.dim() == 2) return add(y, bias());
  return add(y.reshape({-1, out_features()}), bias()).reshape(y.shape());
}

std::string QLinear::extra_repr() const {
  return fmt::format("{}, forward={}, backward={}", Linear::extra_repr(), mac_or_fp32(forward_),
                     mac_or_fp32(backward_));
}

}  // namespace qtorch::nn
