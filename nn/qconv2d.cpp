// nn::QConv2d: Conv2d with qconv2d's chains.
#include "qtorch/nn/qconv2d.h"

#include <fmt/format.h>

#include "qtorch/core/error.h"
#include "qtorch/nn/fusion.h"
#include "qtorch/nn/qlinear.h"
#include "qtorch/quant/qconv2d.h"

namespace qtorch::nn {

QConv2d::QConv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                 std::optional<quant::MacOptions> forward, std::optional<quant::MacOptions> backward,
                 const Conv2dOptions& options)
    : Conv2d(in_channels, out_channels, kernel_size, options), forward_(std::move(forward)),
      backward_(std::move(backward)) {
  check();
}

QConv2d::QConv2d(const Conv2d& conv, std::optional<quant::MacOptions> forward,
                 std::optional<quant::MacOptions> backward)
    : Conv2d(conv), forward_(std::move(forward)), backward_(std::move(backward)) {
  check();
}

void QConv2d::check() const {
  QTORCH_CHECK(options().groups == 1, "QConv2d: expected groups = 1 (one multiply-accumulate chain per output "
               "over all input channels), got groups={}", options().groups);
  if (forward_) forward_->validate();
  if (backward_) backward_->validate();
}

bool QConv2d::forward_is_product_plus_bias() const { return is_exactly<QConv2d>(*this); }

Tensor QConv2d::forward(const Tensor& x) {
  return quant::qconv2d(x, weight(), bias(), checked_params(x, "QConv2d"), forward_, backward_);
}

Tensor QConv2d::product(const Tensor& x) {
  return quant::qconv2d(x, weight(), Tensor(), checked_params(x, "QConv2d"), forward_, backward_);
}

std::string QConv2d::extra_repr() const {
  return fmt::format("{}, forward={}, backward={}", Conv2d::extra_repr(), mac_or_fp32(forward_),
                     mac_or_fp32(backward_));
}

}  // namespace qtorch::nn
