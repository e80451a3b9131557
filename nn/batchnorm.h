// nn::BatchNorm1d and nn::BatchNorm2d: normalise each channel by the batch statistics in
// training (updating running statistics) and by the running statistics in eval mode.
#pragma once

#include <cstdint>
#include <optional>

#include "qtorch/nn/module.h"

namespace qtorch::nn {

struct BatchNormOptions {
  double eps = 1e-5;
  /// Weight of the newest batch in the running statistics; nullopt gives the cumulative
  /// average over all batches since the last reset_running_stats() (as PyTorch's None).
  std::optional<double> momentum = 0.1;
  bool affine = true;  // learnable weight (ones) and bias (zeros)
  bool track_running_stats = true;
};

/// Shared implementation; `spatial_dims` lists the input ranks accepted (2 and 3 for 1d,
/// 4 for 2d).
class BatchNormBase : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  /// Running mean back to 0, running variance to 1, the batch count to 0.
  void reset_running_stats();
  /// The training batches counted since the last reset: the buffer "num_batches_tracked"
  /// (saved and loaded with the state dict, as PyTorch's; float32, so exact up to 2^24
  /// batches); 0 without running statistics. On a GPU reading it waits for the device.
  int64_t num_batches_tracked() const;
  int64_t num_features() const { return features_; }
  const BatchNormOptions& options() const { return options_; }
  /// As the option: in [0, 1], or nullopt for the cumulative average.
  void set_momentum(std::optional<double> momentum);
  Tensor running_mean() const { return has_buffer("running_mean") ? buffer("running_mean") : Tensor(); }
  Tensor running_var() const { return has_buffer("running_var") ? buffer("running_var") : Tensor(); }
  Tensor weight() const { return has_parameter("weight") ? parameter("weight") : Tensor(); }
  Tensor bias() const { return has_parameter("bias") ? parameter("bias") : Tensor(); }
  /// "64, eps=1e-05, momentum=0.1"
  std::string extra_repr() const override;
  std::optional<LayerKind> layer_kind() const override { return LayerKind::Normalization; }

 protected:
  BatchNormBase(int64_t num_features, const BatchNormOptions& options);
  virtual void check_input(const Tensor& x) const = 0;
  /// num_batches_tracked: state dicts and checkpoints of qtorch before it was a buffer lack it.
  std::vector<std::string> buffers_older_states_lack() const override;

 private:
  int64_t features_;
  BatchNormOptions options_;
};

/// Input [N, C] or [N, C, L].
class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(int64_t num_features, const BatchNormOptions& options = {})
      : BatchNormBase(num_features, options) {}
  std::string type_name() const override { return "BatchNorm1d"; }

 protected:
  std::shared_ptr<Module> shallow_copy() const override {
    return std::make_shared<BatchNorm1d>(*this);
  }
  void check_input(const Tensor& x) const override;
};

/// Input [N, C, H, W].
class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(int64_t num_features, const BatchNormOptions& options = {})
      : BatchNormBase(num_features, options) {}
  std::string type_name() const override { return "BatchNorm2d"; }

 protected:
  std::shared_ptr<Module> shallow_copy() const override {
    return std::make_shared<BatchNorm2d>(*this);
  }
  void check_input(const Tensor& x) const override;
};

}  // namespace qtorch::nn
