// nn::Conv2d: 2-D convolution over [N, C, H, W] with stride, padding, dilation and groups.
#pragma once

#include <cstdint>

#include "qtorch/autograd/conv.h"
#include "qtorch/nn/module.h"

namespace qtorch::nn {

struct Conv2dOptions {
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t dilation = 1;
  int64_t groups = 1;
  bool bias = true;
};

/// weight [out, in/groups, k, k], bias [out]; initialised as PyTorch does.
class Conv2d : public Cloneable<Conv2d> {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
         const Conv2dOptions& options = {});

  Tensor forward(const Tensor& x) override;
  /// The convolution without the bias: [N, out, OH, OW] (QConv2d: its low-precision product).
  virtual Tensor product(const Tensor& x);
  /// With a following module that takes bias adds (a quantizer), that module's
  /// forward_bias_add(product(x), bias, 1): one node for the bias add and the quantization
  /// (only where forward is product plus the bias).
  FusedForward forward_fused(std::span<Module* const> next, const Tensor& x) override;
  Tensor weight() const { return parameter("weight"); }
  Tensor bias() const { return has_parameter("bias") ? parameter("bias") : Tensor(); }
  const Conv2dOptions& options() const { return options_; }

  std::string type_name() const override { return "Conv2d"; }
  std::optional<LayerKind> layer_kind() const override { return LayerKind::Conv; }
  /// "1 -> 32, k=3, stride=1, padding=1" (dilation, groups, bias shown when not default).
  std::string extra_repr() const override;

 protected:
  /// Checks x against the layer (throws naming `layer`) and gives the convolution's parameters.
  Conv2dParams checked_params(const Tensor& x, const char* layer) const;
  /// Whether forward(x) is product(x) plus the bias: true for the class that defines both,
  /// so that a subclass that overrides forward is never fused past.
  virtual bool forward_is_product_plus_bias() const;

 private:
  int64_t in_, out_, kernel_;
  Conv2dOptions options_;
};

}  // namespace qtorch::nn
