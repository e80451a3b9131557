// Element-by-element comparison of tensors (or float vectors) with a message that names
// the first differing element, both values in decimal and as float32 bits, and the count
// of differing elements. Returns a result any test framework can check, or throws.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qtorch/core/tensor.h"

namespace qtorch::testing {

/// How NaNs compare.
enum class NanEquality {
  /// Any NaN equals any NaN (sign and payload ignored).
  AnyNan,
  /// NaNs are equal only with the same bits (sign and payload).
  Bitwise,
};

/// What counts as equal. The defaults are bitwise equality except that NaNs of any payload
/// are equal.
struct CompareOptions {
  /// true: -0 and +0 differ (bitwise); false: they are equal. With a tolerance (atol or
  /// rtol) they are always equal, as any two values within it are.
  bool signed_zero = true;
  NanEquality nan = NanEquality::AnyNan;
  /// Non-NaN values equal when |a - b| <= atol + rtol * |b| (b the expected value);
  /// both 0 (the default): exact comparison under the two rules above. Infinities must
  /// match exactly.
  double atol = 0.0;
  double rtol = 0.0;
  /// How many differing elements the message lists (the first ones).
  int max_listed = 4;
};

/// Whether two elements are equal under `options` (the rule every comparison here uses).
bool elements_equal(float actual, float expected, const CompareOptions& options = {});

/// Outcome of a comparison. Converts to bool (true: equal).
struct CompareResult {
  bool equal = true;
  /// Elements that differ (0 when equal; the total, also past max_listed).
  int64_t differing = 0;
  /// Flat index of the first differing element, -1 when none (or on a shape mismatch).
  int64_t first_index = -1;
  float first_actual = 0.0f, first_expected = 0.0f;
  /// Empty when equal; otherwise e.g. "2 of 8 elements differ (bitwise, any NaN == any NaN);
  /// first at [3]: actual 1.5 (0x3fc00000), expected 1.5000001 (0x3fc00001)".
  std::string message;
  explicit operator bool() const { return equal; }
};

/// Compares actual with expected element by element (flat, row-major order).
CompareResult compare(const std::vector<float>& actual, const std::vector<float>& expected,
                      const CompareOptions& options = {});
/// Same for tensors (any device, any strides); a shape mismatch is reported as such.
CompareResult compare(const Tensor& actual, const Tensor& expected, const CompareOptions& options = {});

/// Bitwise equality (sign of zero counts; NaN payloads per `nan`), as a result.
CompareResult expect_bitwise_equal(const Tensor& actual, const Tensor& expected,
                                   NanEquality nan = NanEquality::AnyNan);
CompareResult expect_bitwise_equal(const std::vector<float>& actual, const std::vector<float>& expected,
                                   NanEquality nan = NanEquality::AnyNan);
/// The same, throwing qtorch::Error with the message when they differ.
void assert_bitwise_equal(const Tensor& actual, const Tensor& expected, NanEquality nan = NanEquality::AnyNan);
void assert_bitwise_equal(const std::vector<float>& actual, const std::vector<float>& expected,
                          NanEquality nan = NanEquality::AnyNan);

/// Value equality: -0 == +0 and any NaN equals any NaN.
CompareResult expect_equal_values(const std::vector<float>& actual, const std::vector<float>& expected);

}  // namespace qtorch::testing
