// nn::QLinear: a Linear layer whose products are low-precision multiply-accumulate chains
// (quant::qmatmul): y = x W^T with `forward` MacOptions, dX and dW with `backward`, then
// the bias added in float32.
#pragma once

#include <optional>

#include "qtorch/nn/linear.h"
#include "qtorch/quant/mac.h"

namespace qtorch::nn {

class QLinear : public Linear {
 public:
  /// Empty options: the float32 product for that pass.
  QLinear(int64_t in_features, int64_t out_features, std::optional<quant::MacOptions> forward,
          std::optional<quant::MacOptions> backward, const LinearOptions& options = {});
  /// `linear`'s parameters (shared, not copied) with MAC options.
  QLinear(const Linear& linear, std::optional<quant::MacOptions> forward, std::optional<quant::MacOptions> backward);

  Tensor forward(const Tensor& x) override;
  /// x W^T through quant::qmatmul's chains, without the bias.
  Tensor product(const Tensor& x) override;
  const std::optional<quant::MacOptions>& forward_mac() const { return forward_; }
  const std::optional<quant::MacOptions>& backward_mac() const { return backward_; }

  std::string type_name() const override { return "QLinear"; }
  /// "784 -> 256, forward=acc=fp16, backward=fp32".
  std::string extra_repr() const override;

 protected:
  std::shared_ptr<Module> shallow_copy() const override { return std::make_shared<QLinear>(*this); }
  bool forward_is_product_plus_bias() const override;

 private:
  std::optional<quant::MacOptions> forward_, backward_;
};

/// "acc=fp16,chunk=64" or "fp32" for empty options.
std::string mac_or_fp32(const std::optional<quant::MacOptions>& options);

}  // namespace qtorch::nn
