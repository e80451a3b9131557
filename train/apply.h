// apply_recipe: puts a recipe into a model and an optimizer. The activation/error
// quantizers go into a lowered copy of the model, the optimizer is wrapped in OptimLP with
// the weight, grad, momentum and acc quantizers, and everything that counts or overflows
// reports to one set of counters and one overflow channel, each built here only.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "qtorch/nn/module.h"
#include "qtorch/optim/loss_scaler.h"
#include "qtorch/optim/optim_lp.h"
#include "qtorch/optim/optimizer.h"
#include "qtorch/train/quant_counters.h"
#include "qtorch/train/recipe.h"

namespace qtorch::train {

/// Saturation inside the error quantizers, which a dynamic loss scaler must treat as
/// overflow: with saturating formats, inf/NaN checks of the gradients alone never see it.
/// The error quantizers add to counter() without waiting for the device; take() reads it
/// once per step.
class OverflowChannel {
 public:
  /// Watches `counter`: every element the quantizers given it clamp is an overflow.
  explicit OverflowChannel(std::shared_ptr<quant::StatsCounter> counter = std::make_shared<quant::StatsCounter>());
  /// The counter the error quantizers add to.
  const std::shared_ptr<quant::StatsCounter>& counter() const { return counter_; }
  /// Adds overflows found elsewhere (e.g. by the other ranks of a data-parallel step).
  void report(int64_t count) { reported_.fetch_add(count); }
  /// The overflows since the last call (waits once for the GPU when the quantizers ran there,
  /// unless a prefetch() since has arrived).
  int64_t take();
  /// Queues the counter's read without waiting (quant::StatsCounter::prefetch).
  void prefetch() const { counter_->prefetch(); }
  /// Makes `scaler` skip the step (and back off) after any overflow since its last check;
  /// the counter's read is queued before the scaler's inf/NaN probe, so one wait serves both.
  static void connect(const std::shared_ptr<OverflowChannel>& channel, optim::LossScaler& scaler);

 private:
  std::shared_ptr<quant::StatsCounter> counter_;
  int64_t taken_ = 0;  // counter_'s clamped total at the last take
  std::atomic<int64_t> reported_{0};
};

/// Builds the optimizer over the lowered model's parameters.
using OptimizerFactory = std::function<std::shared_ptr<optim::Optimizer>(const std::vector<Tensor>& params)>;

struct ApplyOptions {
  /// Roles whose quantizers count (each count costs about a third of a quantize kernel):
  /// by default the error role only, whose saturation the loss scaler needs anyway.
  std::vector<Role> counted_roles = {Role::Error};
  /// Also count the finite nonzero inputs of the counted quantizers, so that
  /// QuantCounts::flush_fraction is defined (one more pass over each tensor, on the host).
  bool count_nonzero = false;
  /// Run on every error entering an error quantizer, before it quantizes (e.g. to record
  /// a histogram); quantizers are placed even when activations and errors are float32.
  std::vector<std::function<Tensor(const Tensor&)>> error_hooks = {};
};

/// What apply_recipe made.
struct LowPrecisionSetup {
  /// The model with its activation/error quantizers (the model itself when it needs none).
  nn::ModulePtr model;
  /// The optimizer, wrapped in optim::OptimLP when the recipe quantizes it.
  std::shared_ptr<optim::Optimizer> optimizer;
  std::shared_ptr<OverflowChannel> overflow;
  std::shared_ptr<QuantCounters> counters;
};

/// Validates the recipe, lowers the model (nn::make_low_precision after the recipe's layer
/// kinds), builds the optimizer with `make_optimizer` on the lowered parameters and wraps
/// it. With quantize_initial_weights the accumulator starts as acc(w0) and the stored
/// weights as weight(acc(w0)). Stochastic roles draw from the global generator.
LowPrecisionSetup apply_recipe(const Recipe& recipe, const nn::ModulePtr& model, const OptimizerFactory& make_optimizer,
                               const ApplyOptions& options = {});

/// The function that quantizes one tensor in a role's format (empty for a float32 role),
/// in place when x is contiguous, counting into `counters` when not null; its list form
/// quantizes a whole list in place in one call (quant::quantize_each_in_place).
optim::QuantFn role_quantizer_fn(const RoleFormat& format, Role role, std::shared_ptr<QuantCounters> counters,
                                 bool count_nonzero);

}  // namespace qtorch::train
