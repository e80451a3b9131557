// Helpers of the CUDA parity suite: every test runs one op on the CPU backend (the
// reference) and on the GPU with the same inputs, then compares bit for bit (data
// movement, quantizers, ops with one IEEE rounding) or within a stated tolerance.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "qtorch/core/device.h"
#include "qtorch/core/tensor.h"
#include "qtorch/testing.h"

/// Skips the test when no GPU is visible (CI, CUDA-less builds).
#define QTORCH_REQUIRE_CUDA()                                              \
  do {                                                                     \
    if (!::qtorch::cuda_is_available()) GTEST_SKIP() << "no CUDA device";  \
  } while (0)

namespace qtorch::parity {

inline const Device kGpu = Device::cuda(0);

/// Uniform values in [lo, hi) from std::mt19937 (independent of qtorch's generator).
inline Tensor random_cpu(const Shape& shape, uint32_t seed, float lo = -2.0f, float hi = 2.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(numel_of(shape)));
  for (float& x : v) x = dist(rng);
  return Tensor::from_vector(v, shape);
}

using qtorch::testing::bits_of;

/// Every element has the same bits (nan_any_payload: any NaN matches any NaN, for
/// arithmetic where the two devices make different NaN payloads).
inline void expect_same_bits(const Tensor& cpu, const Tensor& gpu, const std::string& what,
                             bool nan_any_payload = false) {
  ASSERT_TRUE(gpu.device().is_cuda() || gpu.device().is_cpu()) << what;
  const testing::CompareResult r = testing::compare(
      gpu, cpu, {.nan = nan_any_payload ? testing::NanEquality::AnyNan : testing::NanEquality::Bitwise});
  EXPECT_TRUE(r.equal) << what << " (actual: gpu, expected: cpu): " << r.message;
}

/// |gpu - cpu| <= atol + rtol * |cpu| elementwise; NaN and inf must agree.
inline void expect_close(const Tensor& cpu, const Tensor& gpu, float rtol, float atol,
                         const std::string& what) {
  ASSERT_EQ(cpu.shape(), gpu.shape()) << what;
  std::vector<float> a = cpu.to_vector(), b = gpu.to_vector();
  int reported = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    bool ok;
    if (std::isnan(a[i]) || std::isnan(b[i]))
      ok = std::isnan(a[i]) && std::isnan(b[i]);
    else if (std::isinf(a[i]) || std::isinf(b[i]))
      ok = a[i] == b[i];
    else
      ok = std::fabs(a[i] - b[i]) <= atol + rtol * std::fabs(a[i]);
    if (!ok && reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " cpu " << a[i] << " gpu " << b[i];
  }
  EXPECT_EQ(reported, 0) << what << ": elements differ beyond rtol " << rtol << ", atol " << atol;
}

}  // namespace qtorch::parity
