// NVFP4 (docs/numerics.md, "NVFP4"): the spec's examples pinned by hand, and random tensors
// against the exact rational reference of microscaling_reference.h.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "qtorch/core/error.h"
#include "qtorch/core/philox.h"
#include "qtorch/core/threads.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/quant/quantizer.h"
#include "microscaling_reference.h"

namespace qtorch::quant::test {
namespace {
// ---------------------------------------------------------------------------------------
// By hand.

TEST(NVFP4ByHand, TensorAndBlockScales) {
  // t = 2688 -> g = 1. Block (2688, 1): S = 2688 / 6 = 448; q(2688) = 6, q(1) = 1/448 -> 0.
  // Block (3, 2.9): amax 3 -> S = 0.5; 2.9 / 0.5 = 5.8 -> 6 -> 3.
  const std::vector<float> x = {2688, 1, 3, 2.9f, 0.7f, -0.2f};
  const NVFP4Format f{.block = 2};
  // Block (0.7, -0.2): S = RNE_e4m3(0.7 / 6 = 0.11666) = 0.1171875 (15/128); 0.7 / S = 5.97 -> 6 -> 0.703125;
  // 0.2 / S = 1.7067 -> 1.5 -> 0.17578125.
  expect_values(quantize_values(x, {6}, f, Rounding::NearestEven), {2688, 0, 3, 3, 0.703125f, -0.17578125f});
}

TEST(NVFP4ByHand, ZeroTensorScaleAndNaNBlocks) {
  // t = 2^-149: g = RNE(2^-149 / 2688) = 0: finite outputs are zeros of the input's sign.
  const float tiny = std::ldexp(1.0f, -149);
  expect_values(quantize_values({tiny, -tiny}, {2}, formats::nvfp4(), Rounding::NearestEven), {0.0f, -0.0f});
  // A NaN or inf makes its block NaN; t ignores them.
  const std::vector<float> y =
      quantize_values({kInf, 1, 6, 5, kNaN, 1}, {6}, NVFP4Format{.block = 2}, Rounding::NearestEven);
  EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[1]) && std::isnan(y[4]) && std::isnan(y[5]));
  // t = 6 -> g = 6/2688 (rounded); S = RNE_e4m3(6 / (6 g)) = 448 -> S g ~ 1.
  EXPECT_NEAR(y[2], 6.0f, 1e-5f);
  EXPECT_NEAR(y[3], 4.0f, 1e-5f);  // 5 -> tie -> 4 (even)
}

// ---------------------------------------------------------------------------------------
// Random tensors against the reference.

TEST(NVFP4Reference, RandomTensorsEveryModeBlockAndAxis) {
  std::mt19937 gen(11);
  std::uniform_int_distribution<uint32_t> word;
  const std::vector<std::pair<Shape, int>> shapes = {{{97}, -1}, {{3, 40}, -1}, {{40, 3}, 0}, {{4, 9, 5}, 1}, {{}, -1}};
  for (int trial = 0; trial < 6; ++trial)
    for (Rounding mode : kModes)
      for (const auto& [shape, axis] : shapes)
        for (int block : {1, 5, 16}) {
          const int64_t n = numel_of(shape);
          std::vector<float> x = random_values(gen, n);
          if (gen() % 5 == 0) x[gen() % n] = (gen() % 2) ? kNaN : kInf;
          std::vector<uint32_t> rnd(x.size());
          for (auto& r : rnd) r = word(gen);
          const NVFP4Format f{.block = block, .axis = axis};
          const std::string what = number_text(Number(f)) + " " + shape_str(shape) + " " + to_string(mode);
          expect_same_bits(run_kernel(x, shape, f, mode, rnd), reference_nvfp4(x, shape, f, mode, rnd), x, what);
        }
}

}  // namespace
}  // namespace qtorch::quant::test
