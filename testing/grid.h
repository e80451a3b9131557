// Format introspection, computed independently of the quantize kernels (double arithmetic
// from docs/numerics.md): the two grid points around a value, the largest value, the
// smallest normal, the quantum at a value and whether a value is representable.
#pragma once

#include <optional>

#include "qtorch/quant/number.h"

namespace qtorch::testing {

/// The two float32 values a rounding of x chooses between: `lower <= x <= upper`, equal
/// when x is on the grid. Zeros carry the sign of x (docs/numerics.md: the quantizers work
/// on |x|). A neighbour past the format's range is what the range rule makes of it for a
/// rounding to nearest or stochastic rounding: +-max when the format clamps or saturates,
/// else +-inf (or NaN for FloatRange::FiniteNaN). NaN x gives NaN neighbours.
struct GridNeighbours {
  float lower = 0.0f;
  float upper = 0.0f;
  /// lower == upper (x on the grid, or clamped to one range end).
  bool on_grid() const;
};

/// The shared exponent of a block floating point block whose largest magnitude is
/// `block_max` (its float32 exponent; -126 for a subnormal or zero maximum).
int block_exponent(float block_max);

/// Block floating point has no grid of its own: it depends on the block's largest
/// magnitude. Every function below takes it as `block_max` for a BlockFloatingPoint (and an
/// MXFormat: the largest magnitude of the element's MX block) and
/// throws qtorch::Error when it is missing; it is ignored for the other formats. NVFP4
/// (whose grid also depends on the tensor's scale) is refused with a qtorch::Error.
/// (testing::block_maxima computes it for each element of a tensor.)
GridNeighbours grid_neighbours(float x, const Number& number, std::optional<float> block_max = {});

/// The largest finite value, as a double: fixed point t_max (the float32 below
/// 2^(wl-fl-1) when t_max is not a float32), floating point 2^emax * (2 - 2^-man) (or
/// 2^emax * (2 - 2^(1-man)) for FiniteNaN; beyond FLT_MAX for exp = 8 Extended, where
/// float32 overflows first), block floating point 2^(E+1) - s.
double format_max(const Number& number, std::optional<float> block_max = {});

/// The smallest positive normal value: 2^emin for floating point. Fixed point and block
/// floating point have no subnormals: their smallest positive value, the quantum.
double min_normal(const Number& number, std::optional<float> block_max = {});

/// The spacing of the grid around x: 2^-fl (fixed point), 2^(e - man) in binade e >=
/// emin or 2^(emin - man) below (floating point; 2^emin there without subnormals),
/// 2^(E + 2 - wl) (block floating point).
double quantum_at(float x, const Number& number, std::optional<float> block_max = {});

/// True when x is finite and a value of the format: on the grid and inside the range
/// (infinities: only in the IEEE range). NaN gives false.
bool is_representable(float x, const Number& number, std::optional<float> block_max = {});

}  // namespace qtorch::testing
