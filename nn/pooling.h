// nn::MaxPool2d and nn::AvgPool2d over [N, C, H, W].
#pragma once

#include <cstdint>

#include "qtorch/nn/module.h"

namespace qtorch::nn {

struct Pool2dOptions {
  int64_t stride = 0;  // 0: same as the kernel size
  int64_t padding = 0;
};

class MaxPool2d : public Cloneable<MaxPool2d> {
 public:
  explicit MaxPool2d(int64_t kernel_size, const Pool2dOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "MaxPool2d"; }
  std::optional<LayerKind> layer_kind() const override { return LayerKind::Pooling; }
  /// "k=2, stride=2" (padding shown when nonzero).
  std::string extra_repr() const override;

 private:
  int64_t kernel_;
  Pool2dOptions options_;
};

class AvgPool2d : public Cloneable<AvgPool2d> {
 public:
  explicit AvgPool2d(int64_t kernel_size, const Pool2dOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "AvgPool2d"; }
  std::optional<LayerKind> layer_kind() const override { return LayerKind::Pooling; }
  std::string extra_repr() const override;

 private:
  int64_t kernel_;
  Pool2dOptions options_;
};

}  // namespace qtorch::nn
