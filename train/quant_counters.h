// What the quantizers of a training run counted, per role: elements, finite nonzero inputs,
// nonzero inputs flushed to zero, and elements saturated (clamped) at the format's range.
#pragma once

#include <array>
#include <cstdint>

#include "qtorch/core/tensor.h"
#include "qtorch/quant/kernel_params.h"
#include "qtorch/train/recipe.h"

namespace qtorch::train {

struct QuantCounts {
  int64_t numel = 0;
  /// Finite nonzero inputs (counted only with ApplyOptions::count_nonzero).
  int64_t nonzero = 0;
  /// Finite nonzero inputs whose quantized value is zero.
  int64_t flushed = 0;
  /// Elements clamped or saturated at the range (inf/NaN for a non-saturating overflow).
  int64_t saturated = 0;

  /// flushed / nonzero: the share of nonzero values the format turned into 0 (0 when none).
  double flush_fraction() const { return nonzero ? double(flushed) / double(nonzero) : 0.0; }
  /// saturated / numel (0 when nothing was quantized).
  double saturation_fraction() const { return numel ? double(saturated) / double(numel) : 0.0; }
  QuantCounts& operator+=(const QuantCounts& o);
  QuantCounts operator-(const QuantCounts& o) const;
  bool operator==(const QuantCounts&) const = default;
};

/// Running totals per role, shared by every quantizer that apply_recipe makes (and their
/// copies, such as the SWA model's). While paused (during evaluation) nothing is added.
class QuantCounters {
 public:
  const QuantCounts& total(Role role) const { return totals_[static_cast<int>(role)]; }
  void add(Role role, const QuantStats& stats, int64_t nonzero_inputs);
  void pause(bool paused) { paused_ = paused; }
  bool paused() const { return paused_; }

 private:
  std::array<QuantCounts, kNumRoles> totals_{};
  bool paused_ = false;
};

/// Finite nonzero elements of x (on any device; a CUDA tensor is copied to the host).
int64_t count_finite_nonzero(const Tensor& x);

}  // namespace qtorch::train
