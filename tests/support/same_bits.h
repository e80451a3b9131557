// Bit-for-bit comparison of float arrays for the tests that run GPU kernels on the CPU
// (tests/support/cuda_emulation.h): any NaN matches any NaN, since the devices may choose
// different NaN payloads; everything else, the signs of zeros included, must match.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace qtorch::test_support {

inline void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    uint32_t a, b;
    std::memcpy(&a, &got[i], sizeof a);
    std::memcpy(&b, &want[i], sizeof b);
    if (a != b && !(std::isnan(got[i]) && std::isnan(want[i])) && bad++ < 5)
      ADD_FAILURE() << what << " at " << i << ": kernel " << got[i] << ", CPU " << want[i];
  }
}

}  // namespace qtorch::test_support
