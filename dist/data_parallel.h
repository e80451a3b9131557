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
  /// Keep what quantization took off (the residual, per rank) and add it to the next
  /// step's gradient before quantizing (Seide et al. 2014; Karimireddy et al. 2019).
  bool error_feedback = false;
  /// Stochastic rounding's stream: Philox keyed by seed, offset per rank, so that ranks
  /// never share random bits (shared bits would correlate their rounding errors).
  uint64_t seed = 0;
};

/// What one exchange did.
struct ExchangeStats {
  /// Bytes this rank sent: its message (the header of 16 bytes and every gradient's
  /// payload), or 4 bytes per element in float32.
  int64_t bytes_sent = 0;
  /// Elements exchanged (all parameters).
  int64_t elements = 0;
  /// Sum over the ranks of the counts they passed in.
  int64_t total_count = 0;
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
  ExchangeStats exchange(const std::vector<Tensor>& params, double weight, int64_t count = 0);

  /// Copies rank `root`'s values of `tensors` into every rank's (parameters and buffers
  /// at the start of training).
  void broadcast(const std::vector<Tensor>& tensors, int root = 0);

  const ExchangeOptions& options() const { return options_; }
  Communicator& communicator() { return *comm_; }

 private:
  ExchangeStats exchange_float32(const std::vector<Tensor>& grads, double weight, int64_t count);
  ExchangeStats exchange_quantized(const std::vector<Tensor>& grads, double weight, int64_t count);

  std::shared_ptr<Communicator> comm_;
  ExchangeOptions options_;
  Generator generator_;
  std::vector<Tensor> residuals_;  // error feedback, on the CPU
};

}  // namespace qtorch::dist
