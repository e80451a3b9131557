// GoogleTest (gMock) matchers and an EXPECT-style gradcheck for qtorch tensors: include
// this in test code only (link GTest::gmock); <qtorch/testing.h> itself needs no gtest.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "qtorch/core/tensor.h"
#include "qtorch/testing/compare.h"
#include "qtorch/testing/gradcheck.h"

namespace qtorch::testing {

/// EXPECT_THAT(actual, TensorEq(expected)): same shape, equal values (-0 == +0, NaN == NaN).
MATCHER_P(TensorEq, expected, "equals the expected tensor in value") {
  const CompareResult r = compare(arg, expected, {.signed_zero = false});
  *result_listener << r.message;
  return r.equal;
}

/// EXPECT_THAT(actual, TensorBitwiseEq(expected)): same shape and float32 bits (any NaN
/// equals any NaN); the message gives the first differing element's bits.
MATCHER_P(TensorBitwiseEq, expected, "is bitwise equal to the expected tensor") {
  const CompareResult r = compare(arg, expected, {.signed_zero = true});
  *result_listener << r.message;
  return r.equal;
}

/// EXPECT_THAT(actual, TensorNear(expected, tol)): |actual - expected| <= tol elementwise.
MATCHER_P2(TensorNear, expected, tol, "is within " + ::testing::PrintToString(tol) + " of the expected tensor") {
  const CompareResult r = compare(arg, expected, {.signed_zero = false, .atol = static_cast<double>(tol)});
  *result_listener << r.message;
  return r.equal;
}

/// A non-fatal GoogleTest failure, at the caller's line, unless gradcheck passes. (`file` and
/// `line` default to the caller's through the builtins g++ and clang share: clang 14's
/// library, Debian 12's, has no std::source_location.)
inline void expect_gradcheck(const Function& f, std::vector<Tensor> inputs, const GradcheckOptions& options = {},
                             const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  const GradcheckResult r = gradcheck(f, std::move(inputs), options);
  if (!r.ok) ADD_FAILURE_AT(file, line) << r.message;
}

}  // namespace qtorch::testing
