// What the quantizers of a training run counted, per role: elements, finite nonzero inputs,
// nonzero inputs flushed to zero, and elements saturated (clamped) at the format's range.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "qtorch/core/tensor.h"
#include "qtorch/quant/kernel_params.h"
#include "qtorch/quant/stats_counter.h"
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
/// copies, such as the SWA model's or any Module::clone of the model: what a copy computes,
/// in any thread, counts in the run's totals). The quantizers add to one
/// quant::StatsCounter per role, on the device when they run there, so counting never
/// waits for a GPU; total() reads them. While paused (during evaluation) nothing is added.
/// Safe to add to from several threads at once.
class QuantCounters {
 public:
  QuantCounters();
  /// The totals so far. Waits once for the GPU when a quantizer of the role ran there
  /// since the last read.
  QuantCounts total(Role role) const;
  /// The counter the quantizers of `role` pass to quantize.
  const std::shared_ptr<quant::StatsCounter>& counter(Role role) const { return counters_[static_cast<int>(role)]; }
  /// Adds finite nonzero inputs of a quantizer of `role` (ApplyOptions::count_nonzero).
  void add_nonzero(Role role, int64_t count);
  void pause(bool paused);
  bool paused() const { return paused_; }

 private:
  std::array<std::shared_ptr<quant::StatsCounter>, kNumRoles> counters_;
  std::array<std::atomic<int64_t>, kNumRoles> nonzero_{};
  std::atomic<bool> paused_ = false;
};

/// Finite nonzero elements of x (on any device; a CUDA tensor is copied to the host).
int64_t count_finite_nonzero(const Tensor& x);

}  // namespace qtorch::train
