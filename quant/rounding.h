// Rounding modes (docs/numerics.md, "Rounding modes") and their names as text.
#pragma once

#include <ostream>
#include <string>
#include <string_view>

namespace qtorch {

/// How a value between two grid points is rounded.
enum class Rounding {
  /// Up with probability (x - lower) / quantum; exact, from the seeded Philox stream.
  Stochastic,
  /// Nearest; ties as the reference does per family: fixed point to even, floating point
  /// away from zero, block floating point toward +inf.
  Nearest,
  /// Nearest, ties to even, for every family (IEEE roundTiesToEven).
  NearestEven,
  TowardZero,
  /// Toward +inf.
  Up,
  /// Toward -inf.
  Down,
};

/// "stochastic", "nearest", "nearest_even", "toward_zero", "up", "down".
const char* rounding_name(Rounding rounding);
std::string to_string(Rounding rounding);
std::ostream& operator<<(std::ostream& os, Rounding rounding);

/// Parses a name above (case-insensitive; '-' may replace '_'); throws qtorch::Error
/// listing the valid names otherwise.
Rounding parse_rounding(std::string_view text);

/// Throws qtorch::Error naming `what` unless `rounding` is one of the modes above (a value
/// cast from an integer out of range would otherwise round as something else).
void check_rounding(Rounding rounding, std::string_view what);

}  // namespace qtorch
