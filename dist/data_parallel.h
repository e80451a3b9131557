// dist::GradientExchange: data-parallel training's one collective per step. After every
// rank's backward it replaces each parameter's gradient by the global batch's gradient:
// the sum over ranks of (the rank's share of the global batch) x (its local mean
// gradient). In float32 that is one MPI_Allreduce; with a communication format each
// rank quantizes its gradient (optionally with error feedback), sends the codes
// (dist/payload.h) to every rank, and every rank decodes and sums them in rank order.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "qtorch/core/generator.h"
#include "qtorch/core/tensor.h"
#include "qtorch/dist/communicator.h"
#include "qtorch/quant/number.h"
#include "qtorch/quant/rounding.h"

namespace qtorch::dist {

struct ExchangeOptions {
  /// The format gradients travel in; empty: float32 (MPI_Allreduce of the weighted gradients).
  std::optional<Number> number{};
  Rounding rounding = Rounding::Nearest;
  /// Keep what quantization took off (the residual v - q, per rank, in float32: exact while
  /// q is within a factor 2 of v, else rounded to float32) and add it to the next step's
  /// gradient before quantizing (Seide et al. 2014; Karimireddy et al. 2019).
  bool error_feedback = false;
  /// Stochastic rounding's stream: Philox keyed by seed, offset per rank, so that ranks
  /// never share random bits (shared bits would correlate their rounding errors).
  uint64_t seed = 0;
  /// Set when a loss scaler skips the step after an exchange whose result overflowed (a
  /// total count > 0 or a non-finite value): error feedback then keeps the residual it had
  /// before that exchange, since the gradient it sent is never applied.
  bool overflow_skips_step = false;
};

/// What one exchange did.
struct ExchangeStats {
  /// Bytes this rank sent: its message (the header of 16 bytes and every gradient's
  /// payload), or 4 bytes per element in float32.
  int64_t bytes_sent = 0;
  /// Elements exchanged (all parameters).
  int64_t elements = 0;
  /// Sum over the ranks of the counts they passed in and of the elements their
  /// communication format clamped or saturated where a loss scale moves saturation (fixed and
  /// floating point; quant::loss_scale_moves_saturation): overflow a loss scaler must see.
  int64_t total_count = 0;
  /// Elements this rank's communication format clamped or saturated (in total_count for
  /// fixed and floating point formats only).
  int64_t clamped = 0;
  /// Whether the exchanged gradients hold a NaN or an infinity.
  bool non_finite = false;
};

class GradientExchange {
 public:
  /// Throws qtorch::Error for a format that cannot be sent (NVFP4) or error feedback
  /// without a format.
  GradientExchange(std::shared_ptr<Communicator> comm, ExchangeOptions options);

  /// Replaces the gradients of `params` (every rank passes the same parameters in the
  /// same order; a missing gradient counts as zeros) with the global one. `weight` is this
  /// rank's share of the global batch (its samples / all samples; 0 for a rank with no
  /// sample). `count` is summed over ranks into the result (e.g. overflows seen locally).
  /// `scale` is the loss scale the gradients carry: error feedback rescales its residual
  /// when the scale changes between steps. A rank with no sample sends zeros and keeps its
  /// residual for a later step.
  ExchangeStats exchange(const std::vector<Tensor>& params, double weight, int64_t count = 0, double scale = 1.0);

  /// Copies rank `root`'s values of `tensors` into every rank's (parameters and buffers
  /// at the start of training).
  void broadcast(const std::vector<Tensor>& tensors, int root = 0);

  const ExchangeOptions& options() const { return options_; }
  Communicator& communicator() { return *comm_; }

 private:
  ExchangeStats exchange_float32(const std::vector<Tensor>& grads, double weight, int64_t count);
  // Fills next_residuals (error feedback on a rank with samples) with v - q of this exchange.
  ExchangeStats exchange_quantized(const std::vector<Tensor>& grads, double weight, int64_t count,
                                   std::vector<Tensor>& next_residuals);

  std::shared_ptr<Communicator> comm_;
  ExchangeOptions options_;
  Generator generator_;
  std::vector<Tensor> residuals_;  // error feedback, on the CPU
  double residual_scale_ = 1.0;    // the loss scale residuals_ carry
};

/// Brings `generator` on every rank to rank 0's seed and the furthest offset any rank's has
/// reached. Ranks whose shares of a global batch differ (its last one)
/// draw different amounts of random bits in their forward and backward quantizers; aligned
/// after the exchange, the quantizers of the shared state (the optimizer's weights,
/// gradients and momentum) draw the same bits on every rank, which keeps the ranks' weights
/// equal.
void align_generator(Communicator& comm, Generator& generator);

/// Throws qtorch::Error on every rank when the ranks' `items` differ, naming the first item
/// that differs and its values on rank 0 and on the first rank that differs ("data-parallel
/// training: rank 1's seed is 2, rank 0's is 1"). Items are (name, value) pairs, the same
/// names in the same order on every rank. `what` begins the message.
void check_same_on_every_rank(Communicator& comm, const std::vector<std::pair<std::string, std::string>>& items,
                              const std::string& what);

}  // namespace qtorch::dist
