// nn::Linear: y = x W^T + b, initialised as PyTorch does.
#pragma once

#include <cstdint>

#include "qtorch/nn/module.h"

namespace qtorch::nn {

struct LinearOptions {
  bool bias = true;
};

/// weight [out, in], bias [out]; accepts input [*, in].
class Linear : public Cloneable<Linear> {
 public:
  Linear(int64_t in_features, int64_t out_features, const LinearOptions& options = {});

  Tensor forward(const Tensor& x) override;
  /// x W^T without the bias: [*, out] for x [*, in] (QLinear: its low-precision product).
  virtual Tensor product(const Tensor& x);
  /// With a following module that takes bias adds (a quantizer), that module's
  /// forward_bias_add(product(x), bias): one node for the bias add and the quantization
  /// (only where forward is product plus the bias).
  FusedForward forward_fused(std::span<Module* const> next, const Tensor& x) override;
  Tensor weight() const { return parameter("weight"); }
  /// Undefined when built without bias.
  Tensor bias() const { return has_parameter("bias") ? parameter("bias") : Tensor(); }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

  std::string type_name() const override { return "Linear"; }
  std::optional<LayerKind> layer_kind() const override { return LayerKind::Linear; }
  /// "784 -> 256", with ", bias=false" when there is no bias.
  std::string extra_repr() const override;

 protected:
  /// Whether forward(x) is product(x) plus the bias: true for the class that defines both,
  /// so that a subclass that overrides forward is never fused past.
  virtual bool forward_is_product_plus_bias() const;

 private:
  int64_t in_, out_;
};

}  // namespace qtorch::nn
