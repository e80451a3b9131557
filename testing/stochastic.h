// Statistical checks of stochastic rounding, forward (a quantize function) and backward
// (a quantizer node's gradient): outputs on the two neighbouring grid points, an unbiased
// mean within a Hoeffding bound, grid values fixed, same seed same bits, fresh calls fresh
// bits. False-alarm rates: docs/testing.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "qtorch/core/tensor.h"
#include "qtorch/quant/number.h"
#include "qtorch/testing/grid.h"

namespace qtorch::testing {

/// A quantize function under test: Tensor -> Tensor of the same shape.
using QuantizeFn = std::function<Tensor(const Tensor&)>;

struct StochasticOptions {
  /// Calls of the function whose outputs are counted (each draws fresh bits).
  int64_t samples = 2000;
  /// Probability that a correct stochastic rounding fails the check (the whole call, all
  /// elements together); the deterministic parts of the check never fail falsely.
  double false_alarm = 1e-6;
  /// Seed for the reproducibility part.
  uint64_t seed = 0;
  /// Sets the seed of the generator the function draws from; empty: qtorch::manual_seed.
  std::function<void(uint64_t)> reseed = nullptr;
};

/// Outcome of check_stochastic_rounding. Converts to bool (true: every part passed).
struct StochasticResult {
  bool ok = true;
  /// (a) sample outputs that were neither neighbour of their input.
  int64_t off_grid = 0;
  /// (b) elements whose frequency of rounding up is outside the Hoeffding bound.
  int64_t biased = 0;
  /// (c) sample outputs of on-grid (or clamped) elements that differ from that value.
  int64_t moved = 0;
  /// (d) the same seed gave the same bits; the calls after it without reseeding did not
  /// all repeat those bits (checked only when chance could not explain that, i.e. when
  /// prod_i (p_i^N + (1 - p_i)^N) <= false_alarm / 2 for N = samples + 2: fresh_checked).
  bool reproducible = true;
  bool fresh_checked = false;
  bool fresh = true;
  /// The Hoeffding half-width on the up-frequency: sqrt(ln(4 m / false_alarm) / (2 samples)),
  /// m the number of off-grid elements.
  double bound = 0.0;
  /// Empty when ok; otherwise the failing part with its first element.
  std::string message;
  explicit operator bool() const { return ok; }
};

/// For each element of x (row-major), the largest magnitude of its block under `b`
/// (the block_max argument of testing::grid_neighbours).
std::vector<float> block_maxima(const Tensor& x, const BlockFloatingPoint& b);
/// The same for an MX format: the largest magnitude of each element's MX block (NaN when
/// the block holds NaN; inf when it holds inf).
std::vector<float> block_maxima(const Tensor& x, const MXFormat& f);

/// grid_neighbours of every element of x, block maxima taken from x itself.
std::vector<GridNeighbours> grid_neighbours(const Tensor& x, const Number& number);

/// Checks that `quantize` rounds x stochastically onto `number`'s grid.
StochasticResult check_stochastic_rounding(const QuantizeFn& quantize, const Tensor& x, const Number& number,
                                           const StochasticOptions& options = {});
/// The same against given neighbours (one per element of x, row-major).
StochasticResult check_stochastic_rounding(const QuantizeFn& quantize, const Tensor& x,
                                           const std::vector<GridNeighbours>& grid,
                                           const StochasticOptions& options = {});

/// The gradient a quantizer node passes back as a quantize function: g -> the gradient of
/// a fresh leaf copy of forward_input after quantizer(leaf).backward(g).
QuantizeFn backward_as_quantize(const std::function<Tensor(const Tensor&)>& quantizer, const Tensor& forward_input);

/// check_stochastic_rounding of a quantizer node's backward pass on grad_output, expected
/// on `backward_number`'s grid. The forward input defaults to zeros (nothing clamps). The
/// grid is that of grad_output itself, so the quantizer's backward hooks must leave the
/// gradient unchanged (check a scaling hook with grad_of instead).
StochasticResult check_stochastic_rounding_backward(const std::function<Tensor(const Tensor&)>& quantizer,
                                                    const Tensor& grad_output, const Number& backward_number,
                                                    const StochasticOptions& options = {},
                                                    const Tensor& forward_input = Tensor());

}  // namespace qtorch::testing
