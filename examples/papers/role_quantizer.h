// The per-role quantization hooks of the paper harness: a format+rounding per role, and the
// counting quantizer module placed after every linear/conv output (A forward, E backward)
// that records saturation, flushes and a log2|error| histogram for the diagnostics.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/tensor.h"
#include "nn/module.h"
#include "optim/optim_lp.h"
#include "quant/kernel_params.h"
#include "quant/number.h"
#include "quant/quantizer.h"
#include "quant/rounding.h"

namespace qrepro {

/// One role's number format (empty: fp32, not quantized) and rounding.
struct Role {
  std::optional<qtorch::Number> number;
  qtorch::Rounding rounding = qtorch::Rounding::Nearest;

  bool on() const { return number.has_value(); }
  /// "fp32", or e.g. "fixed:16:8 nearest".
  std::string text() const;
};

/// fp32 (no quantization).
inline Role fp32() { return {}; }
/// A quantized role.
inline Role role(qtorch::Number number, qtorch::Rounding rounding) { return {number, rounding}; }

/// What the quantizers of one kind counted. `nonzero` counts finite nonzero inputs, so
/// flushed / nonzero is the share of nonzero values the format turned into 0.
struct Counts {
  int64_t numel = 0, nonzero = 0, flushed = 0, saturated = 0;

  void add(const qtorch::QuantStats& s, int64_t nonzero_inputs);
  double flush_fraction() const { return nonzero ? double(flushed) / double(nonzero) : 0.0; }
  double saturation_fraction() const { return numel ? double(saturated) / double(numel) : 0.0; }
};

/// Histogram of floor(log2|x|) over finite nonzero values, plus the count of zeros.
struct Log2Histogram {
  std::map<int, int64_t> bins;
  int64_t zeros = 0;

  void add(const qtorch::Tensor& x);
  int64_t total_nonzero() const;
  /// Share of nonzero values with floor(log2|x|) < e.
  double fraction_below(int e) const;
};

/// Counters shared by every layer quantizer of a model (and by its clones).
struct LayerCounters {
  Counts activation;  ///< forward (A)
  Counts error;       ///< backward (E), over the whole run until reset
  /// E saturations since the loss scaler last asked (treated as overflow).
  int64_t error_saturated_pending = 0;
  bool record_histogram = false;
  Log2Histogram error_histogram;  ///< of the incoming errors, before E quantization
};

/// Straight-through quantizer after a layer (quant::quantizer): forward A (with counts),
/// backward records the histogram and quantizes with E (with counts). Identity in a
/// direction whose role is fp32.
class LayerQuantizer : public qtorch::nn::Cloneable<LayerQuantizer> {
 public:
  LayerQuantizer(Role activation, Role error, std::shared_ptr<LayerCounters> counters);
  qtorch::Tensor forward(const qtorch::Tensor& x) override;
  std::string type_name() const override { return "LayerQuantizer"; }
  std::string extra_repr() const override;

 private:
  Role a_, e_;
  std::shared_ptr<LayerCounters> counters_;
  /// Nonzero inputs of the quantization under way (the stats callbacks read it).
  std::shared_ptr<int64_t> nonzero_in_;
  qtorch::quant::QuantizerFn quantize_;
};

/// A quantize function for OptimLP (empty when the role is fp32) that adds to `counts`.
qtorch::optim::QuantFn optim_quant_fn(const Role& r, std::shared_ptr<Counts> counts);

/// Quantizes x with counts (x itself, copied, when the role is fp32).
qtorch::Tensor quantize_counted(const qtorch::Tensor& x, const Role& r, Counts* counts);

/// Number of finite nonzero elements of a CPU tensor.
int64_t count_nonzero(const qtorch::Tensor& x);

}  // namespace qrepro
