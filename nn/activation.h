// Parameter-free layers: ReLU, Sigmoid, Tanh, Dropout and Flatten.
#pragma once

#include <cstdint>

#include "qtorch/nn/module.h"

namespace qtorch::nn {

class ReLU : public Cloneable<ReLU> {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ReLU"; }
  std::optional<LayerKind> layer_kind() const override { return LayerKind::Activation; }
};

class Sigmoid : public Cloneable<Sigmoid> {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sigmoid"; }
  std::optional<LayerKind> layer_kind() const override { return LayerKind::Activation; }
};

class Tanh : public Cloneable<Tanh> {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Tanh"; }
  std::optional<LayerKind> layer_kind() const override { return LayerKind::Activation; }
};

/// Zeroes elements with probability p and scales the rest by 1/(1-p) in training mode;
/// the identity in eval mode. Draws from the global seeded generator.
class Dropout : public Cloneable<Dropout> {
 public:
  explicit Dropout(float p = 0.5f);
  Tensor forward(const Tensor& x) override;
  float p() const { return p_; }
  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override;

 private:
  float p_;
};

/// Flattens axes start..end into one (default: everything but the batch axis).
class Flatten : public Cloneable<Flatten> {
 public:
  explicit Flatten(int64_t start_axis = 1, int64_t end_axis = -1)
      : start_(start_axis), end_(end_axis) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Flatten"; }

 private:
  int64_t start_, end_;
};

}  // namespace qtorch::nn
