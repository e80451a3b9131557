// A tensor's elements within a tolerance of the expected values, for tests of hand values.
#pragma once

#include <cstddef>
#include <vector>

#include <gtest/gtest.h>

#include "qtorch/core/tensor.h"

namespace qtorch::testing {

/// t's elements (flat, row-major) each within tol of expected, as many of them as expected.
inline void expect_near(const Tensor& t, const std::vector<float>& expected, float tol = 1e-5f) {
  const std::vector<float> got = t.to_vector();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], tol) << "element " << i;
}

}  // namespace qtorch::testing
