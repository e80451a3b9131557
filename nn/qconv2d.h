// nn::QConv2d: a Conv2d layer (groups = 1) whose dot products are low-precision
// multiply-accumulate chains (quant::qconv2d), forward and backward options apart.
#pragma once

#include <optional>

#include "qtorch/nn/conv.h"
#include "qtorch/quant/mac.h"

namespace qtorch::nn {

class QConv2d : public Conv2d {
 public:
  /// Empty options: the float32 product for that pass. Throws unless groups == 1.
  QConv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, std::optional<quant::MacOptions> forward,
          std::optional<quant::MacOptions> backward, const Conv2dOptions& options = {});
  /// `conv`'s parameters (shared, not copied) with MAC options.
  QConv2d(const Conv2d& conv, std::optional<quant::MacOptions> forward, std::optional<quant::MacOptions> backward);

  Tensor forward(const Tensor& x) override;
  /// The convolution through quant::qconv2d's chains, without the bias.
  Tensor product(const Tensor& x) override;
  const std::optional<quant::MacOptions>& forward_mac() const { return forward_; }
  const std::optional<quant::MacOptions>& backward_mac() const { return backward_; }

  std::string type_name() const override { return "QConv2d"; }
  std::string extra_repr() const override;

 protected:
  std::shared_ptr<Module> shallow_copy() const override { return std::make_shared<QConv2d>(*this); }
  bool forward_is_product_plus_bias() const override;

 private:
  void check() const;
  std::optional<quant::MacOptions> forward_, backward_;
};

}  // namespace qtorch::nn
