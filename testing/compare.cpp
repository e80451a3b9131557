// Element-by-element tensor comparison with messages naming values and bits.
#include "qtorch/testing/compare.h"

#include <fmt/format.h>

#include <cmath>

#include "qtorch/core/error.h"
#include "qtorch/core/shape.h"
#include "qtorch/testing/bits.h"

namespace qtorch::testing {
bool elements_equal(float a, float b, const CompareOptions& o) {
  if (std::isnan(a) || std::isnan(b)) {
    if (!(std::isnan(a) && std::isnan(b))) return false;
    return o.nan == NanEquality::AnyNan || bits_of(a) == bits_of(b);
  }
  const bool exact = o.atol == 0.0 && o.rtol == 0.0;
  if (a == 0.0f && b == 0.0f) return !exact || !o.signed_zero || bits_of(a) == bits_of(b);
  if (exact) return a == b;
  if (std::isinf(a) || std::isinf(b)) return a == b;
  const double diff = std::fabs(static_cast<double>(a) - static_cast<double>(b));
  return diff <= o.atol + o.rtol * std::fabs(static_cast<double>(b));
}

namespace {

std::string rule(const CompareOptions& o) {
  if (o.atol != 0.0 || o.rtol != 0.0) return fmt::format("|actual - expected| <= {} + {} * |expected|", o.atol, o.rtol);
  return fmt::format("bitwise{}{}", o.signed_zero ? "" : ", -0 == +0",
                     o.nan == NanEquality::AnyNan ? ", any NaN == any NaN" : ", NaN payloads compared");
}

}  // namespace

CompareResult compare(const std::vector<float>& actual, const std::vector<float>& expected,
                      const CompareOptions& options) {
  CompareResult r;
  if (actual.size() != expected.size()) {
    r.equal = false;
    r.message = fmt::format("size mismatch: actual has {} elements, expected {}", actual.size(), expected.size());
    return r;
  }
  std::string listed;
  for (size_t i = 0; i < actual.size(); ++i) {
    if (elements_equal(actual[i], expected[i], options)) continue;
    if (r.differing == 0) {
      r.first_index = static_cast<int64_t>(i);
      r.first_actual = actual[i];
      r.first_expected = expected[i];
    }
    if (r.differing < options.max_listed)
      listed += fmt::format("\n  [{}]: actual {}, expected {}", i, describe_float(actual[i]),
                            describe_float(expected[i]));
    ++r.differing;
  }
  if (r.differing == 0) return r;
  r.equal = false;
  r.message = fmt::format("{} of {} elements differ ({}); first at [{}]: actual {}, expected {}{}{}", r.differing,
                          actual.size(), rule(options), r.first_index, describe_float(r.first_actual),
                          describe_float(r.first_expected), r.differing > 1 ? "; listed:" : "",
                          r.differing > 1 ? listed : "");
  return r;
}

CompareResult compare(const Tensor& actual, const Tensor& expected, const CompareOptions& options) {
  QTORCH_CHECK(actual.defined() && expected.defined(), "testing::compare: expected two defined tensors, got {} and {}",
               actual.defined() ? "a tensor" : "an undefined tensor",
               expected.defined() ? "a tensor" : "an undefined tensor");
  if (actual.shape() != expected.shape()) {
    CompareResult r;
    r.equal = false;
    r.message = fmt::format("shape mismatch: actual {}, expected {}", shape_str(actual.shape()),
                            shape_str(expected.shape()));
    return r;
  }
  return compare(actual.to_vector(), expected.to_vector(), options);
}

CompareResult expect_bitwise_equal(const Tensor& actual, const Tensor& expected, NanEquality nan) {
  return compare(actual, expected, {.signed_zero = true, .nan = nan});
}
CompareResult expect_bitwise_equal(const std::vector<float>& actual, const std::vector<float>& expected,
                                   NanEquality nan) {
  return compare(actual, expected, {.signed_zero = true, .nan = nan});
}

void assert_bitwise_equal(const Tensor& actual, const Tensor& expected, NanEquality nan) {
  const CompareResult r = expect_bitwise_equal(actual, expected, nan);
  if (!r) QTORCH_FAIL("testing::assert_bitwise_equal: expected equal bits, got {}", r.message);
}
void assert_bitwise_equal(const std::vector<float>& actual, const std::vector<float>& expected, NanEquality nan) {
  const CompareResult r = expect_bitwise_equal(actual, expected, nan);
  if (!r) QTORCH_FAIL("testing::assert_bitwise_equal: expected equal bits, got {}", r.message);
}

CompareResult expect_equal_values(const std::vector<float>& actual, const std::vector<float>& expected) {
  return compare(actual, expected, {.signed_zero = false, .nan = NanEquality::AnyNan});
}

}  // namespace qtorch::testing
