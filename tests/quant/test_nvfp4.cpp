// NVFP4 (docs/numerics.md, "NVFP4"): the spec's examples pinned by hand, and random tensors
// against the exact rational reference of microscaling_reference.h.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "qtorch/core/error.h"
#include "qtorch/core/philox.h"
#include "qtorch/core/threads.h"
#include "qtorch/quant/microscaling_core.h"
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

// Blocks whose scale S is a chosen E4M3 value and whose elements sit on the grid points,
// on the midpoints between them (ties) and one float either side, for tensor scales g from
// float32 subnormals to 2^100; then random values. The tensors span many batches of eight
// blocks, groups of blocks and threads' chunks, with rows that end in a short block. Each
// mode is checked with the clamp mask and counts and without either.
TEST(NVFP4Reference, TiesAndGridPointsAtEveryScaleAcrossManyBlocks) {
  std::mt19937 gen(23);
  std::uniform_int_distribution<uint32_t> word;
  const double multiples[] = {0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 5, 6};
  // The tensor scale g = G exactly: t = 2688 G is the tensor's largest magnitude.
  const auto tie_tensor = [&](int64_t n, int64_t block, int g_exponent) {
    const float G = std::ldexp(static_cast<float>(word(gen) % 65536 + 1), g_exponent);
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t b0 = 0; b0 < n; b0 += block) {
      // S0: an E4M3 value, 2^-9 .. 448 (subnormals included); the block's first element
      // 6 S0 G makes S = S0.
      const int e = static_cast<int>(word(gen) % 18) - 9;
      const double S0 = std::min(448.0, std::ldexp(e < -6 ? 1.0 : 1.0 + (word(gen) % 8) / 8.0, e));
      for (int64_t i = b0; i < std::min(n, b0 + block); ++i) {
        const double m = i == b0 ? 6.0 : multiples[word(gen) % std::size(multiples)];
        float v = static_cast<float>(m * S0 * G);
        if (i != b0 && word(gen) % 3 == 1) v = std::nextafter(v, 0.0f);
        if (i != b0 && word(gen) % 3 == 2) v = std::nextafter(v, kInf);
        x[static_cast<size_t>(i)] = word(gen) % 2 ? -v : v;
      }
    }
    x[static_cast<size_t>(word(gen) % n)] = 2688.0f * G;
    return x;
  };
  struct Case {
    Shape shape;
    int block;
    int axis;
  };
  const Case cases[] = {{{4096}, 16, -1}, {{5, 48}, 16, -1}, {{3, 70}, 32, -1}, {{9, 200}, 16, -1}, {{64, 3}, 16, 0}};
  for (int g_exponent : {-149, -140, -126, -60, -20, 0, 30, 100})
    for (const Case& c : cases)
      for (Rounding mode : kModes) {
        const int64_t n = numel_of(c.shape);
        const std::vector<float> x = tie_tensor(n, c.block, g_exponent);
        std::vector<uint32_t> rnd(x.size());
        for (auto& r : rnd) r = word(gen);
        const NVFP4Format f{.block = c.block, .axis = c.axis};
        const std::string what = number_text(Number(f)) + " " + shape_str(c.shape) + " " + to_string(mode) +
                                 " G=2^" + std::to_string(g_exponent);
        const RefOut want = reference_nvfp4(x, c.shape, f, mode, rnd);
        QuantStats stats;
        expect_same_bits(run_kernel(x, c.shape, f, mode, rnd, &stats), want, x, what);
        int64_t clamped = 0, flushed = 0;
        for (size_t i = 0; i < x.size(); ++i) {
          clamped += want.mask[i] != 0 ? 1 : 0;
          flushed += x[i] != 0 && std::isfinite(x[i]) && want.y[i] == 0 ? 1 : 0;
        }
        EXPECT_EQ(stats.clamped, clamped) << what;
        EXPECT_EQ(stats.flushed, flushed) << what;
        // Without a mask or counts (the kernels' other instantiation).
        RefOut bare{std::vector<float>(x.size()), want.mask};
        quantize_cpu_with_bits(x.data(), bare.y.data(), nullptr, n, make_quant_params(f, mode, c.shape),
                               rnd.data(), nullptr, true);
        expect_same_bits(bare, want, x, what + " (no mask)");
      }
}

// Blocks down columns (an axis before the last): up to 37 columns side by side, some all
// zero (S = 0), some a million times smaller than the rest (small or zero S), some with a
// NaN or an inf, in every mode, with and without the mask.
TEST(NVFP4Reference, BlocksDownColumnsWithZeroTinyAndNaNBlocks) {
  std::mt19937 gen(31);
  std::uniform_int_distribution<uint32_t> word;
  struct Case {
    Shape shape;
    int block;
    int axis;
  };
  const Case cases[] = {{{48, 37}, 16, 0}, {{5, 32, 24}, 16, 1}, {{7, 20, 9}, 5, 1}, {{33, 17}, 16, 0}};
  for (const Case& c : cases)
    for (Rounding mode : kModes) {
      const int64_t n = numel_of(c.shape);
      int64_t inner = 1;  // the elements between one row of a column block and the next
      for (size_t d = static_cast<size_t>(c.axis) + 1; d < c.shape.size(); ++d) inner *= c.shape[d];
      std::vector<float> x = random_values(gen, n);
      for (int64_t col = 0; col < inner; ++col) {
        const uint32_t kind = word(gen) % 6;
        for (int64_t i = col; i < n; i += inner) {
          if (kind == 0) x[static_cast<size_t>(i)] = 0.0f;
          if (kind == 1) x[static_cast<size_t>(i)] *= 1e-6f;
        }
        if (kind == 2) x[static_cast<size_t>(col + inner * (word(gen) % (n / inner)))] = word(gen) % 2 ? kNaN : -kInf;
      }
      std::vector<uint32_t> rnd(x.size());
      for (auto& r : rnd) r = word(gen);
      const NVFP4Format f{.block = c.block, .axis = c.axis};
      const std::string what = number_text(Number(f)) + " " + shape_str(c.shape) + " " + to_string(mode);
      const RefOut want = reference_nvfp4(x, c.shape, f, mode, rnd);
      expect_same_bits(run_kernel(x, c.shape, f, mode, rnd), want, x, what);
      RefOut bare{std::vector<float>(x.size()), want.mask};
      quantize_cpu_with_bits(x.data(), bare.y.data(), nullptr, n, make_quant_params(f, mode, c.shape), rnd.data(),
                             nullptr, true);
      expect_same_bits(bare, want, x, what + " (no mask)");
    }
}

// Stochastic rounding at the last word. F, the quotient 2^32 d / w truncated, carries a
// sticky last bit where the quotient is not whole (docs/numerics.md, "NVFP4"), so the word
// r = floor(2^32 d / w) rounds up, as the exact quotient r + frac says, when r is even; only
// the sticky bit makes it so, and random words meet r once in 2^32. Each element whose
// quotient lies in (r + 2^-8, r + 1 - 2^-8) with r even gets the word r, r - 1 or r + 1.
// The others keep random words: at odd r, F's rule and the exact quotient part by design.
// Checked through the CPU kernels (rows, columns, short blocks) and the core's element
// function, which the GPU kernel and builds without AVX-512 run.
TEST(NVFP4Reference, StochasticWordsAtTheQuotientsFloor) {
  std::mt19937 gen(37);
  std::uniform_int_distribution<uint32_t> word;
  const std::vector<std::pair<Shape, NVFP4Format>> cases = {
      {{4096}, NVFP4Format{}}, {{48, 300}, NVFP4Format{.axis = 0}}, {{997}, NVFP4Format{.block = 5}}};
  for (const auto& [shape, f] : cases) {
    const std::string what = number_text(Number(f)) + " " + shape_str(shape);
    int64_t at_floor = 0;
    for (int trial = 0; trial < 4; ++trial) {
      const std::vector<float> x = random_values(gen, numel_of(shape));
      const std::vector<NVFP4Element> elements = nvfp4_elements(x, shape, f);
      std::vector<uint32_t> rnd(x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        rnd[i] = word(gen);
        if (elements[i].kind != NVFP4Element::Scaled) continue;
        const Fraction v = fraction_of(elements[i].v, 0, 1);
        if (value_of(v.k + 1, v.q) > 6) continue;  // past 6: the grid after it is not E2M1's
        const i128 scaled = v.rem << 32;  // 2^32 d / w = scaled / den
        const i128 r = scaled / v.den, part = scaled - r * v.den;
        if (r % 2 != 0 || part * 256 <= v.den || (v.den - part) * 256 <= v.den) continue;
        const int pick = static_cast<int>(gen() % 4);
        rnd[i] = static_cast<uint32_t>(r) + (pick == 2 ? 1u : 0u) - (pick == 3 && r > 0 ? 1u : 0u);
        at_floor += pick < 2 ? 1 : 0;
      }
      const RefOut want = reference_nvfp4(x, shape, f, Rounding::Stochastic, rnd);
      expect_same_bits(run_kernel(x, shape, f, Rounding::Stochastic, rnd), want, x, what + " (CPU kernels)");
      // The core's element function, block by block.
      uint32_t finite_max = 0;
      for (float v : x)
        if (std::isfinite(v)) finite_max = std::max(finite_max, float_bits(v) & 0x7fffffffu);
      const float g = nvfp4_tensor_scale(finite_max);
      RefOut core{std::vector<float>(x.size()), std::vector<float>(x.size())};
      for (const auto& idx : blocks_of(shape, f.axis, f.block)) {
        uint32_t block_max = 0;
        for (int64_t i : idx) block_max = std::max(block_max, float_bits(x[i]) & 0x7fffffffu);
        const NVFP4Scale s = nvfp4_block_scale(block_max, g);
        for (int64_t i : idx) {
          uint32_t clamped = 0;
          core.y[i] = quantize_nvfp4<RoundKind::Stochastic>(x[i], s, rnd[i], clamped);
          core.mask[i] = static_cast<float>(clamped);
        }
      }
      expect_same_bits(core, want, x, what + " (core)");
    }
    // Most elements are scaled, and half of those get the floor itself: at least n / 2 of
    // the 4 n words, or the test has lost what it is for.
    EXPECT_GE(at_floor, numel_of(shape) / 2) << what;
  }
}

TEST(NVFP4Thresholds, SameBitsAsTheCoresDoubleComparisons) {
  // quantize_nvfp4_thresholds (the GPU's element rule) against quantize_nvfp4 in every
  // mode: blocks at scales from float32's subnormals to past its largest value (thresholds
  // that round to inf), elements at each threshold's float32 neighbours, at the grid points
  // and midpoints, random in [0, 9 S g], both signs; zero and NaN blocks. Stochastic with
  // random words. Stochastic, Up, Down and NearestUp count the floor index with the
  // thresholds, then decide with the core's own nvfp4_round_up.
  std::mt19937 gen(41);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  int64_t checked = 0;
  const auto check = [&](auto kind, const NVFP4Scale& s) {
    constexpr RoundKind K = decltype(kind)::value;
    const NVFP4Thresholds t = nvfp4_thresholds<K>(s);
    std::vector<float> xs;
    for (int k = 0; k <= 8; ++k)
      for (double f : {1.0, 0.75, 1.25}) {  // the points and the midpoints either side
        const float near = static_cast<float>(e2m1_grid(k) * f * s.sg);
        float below = near, above = near;
        for (int step = 0; step < 3; ++step) {
          xs.push_back(below), xs.push_back(above);
          below = std::nextafter(below, 0.0f), above = std::nextafter(above, INFINITY);
        }
      }
    for (int i = 0; i < 64; ++i) xs.push_back(static_cast<float>(unit(gen) * 9.0 * s.sg));
    for (float v : xs)
      for (float x : {v, -v}) {
        const uint32_t rnd = static_cast<uint32_t>(gen());
        uint32_t c1 = 0, c2 = 0;
        const uint32_t want = float_bits(quantize_nvfp4<K>(x, s, rnd, c1));
        const uint32_t got = float_bits(quantize_nvfp4_thresholds<K>(x, s, t, rnd, c2));
        ++checked;
        ASSERT_EQ(got, want) << "mode " << static_cast<int>(K) << ", S g " << s.sg << ", x " << x;
        ASSERT_EQ(c2, c1) << "mode " << static_cast<int>(K) << ", S g " << s.sg << ", x " << x << " (clamped)";
      }
  };
  std::vector<NVFP4Scale> scales;
  for (float g : {1e-45f, 3e-39f, 1e-30f, 0.37f, 1.0f, 7.5e4f, 1.2e35f, 1.26e35f})
    for (float amax : {1e-40f, 1e-10f, 0.5f, 3.0f, 1000.0f, 3.3e38f}) {
      const NVFP4Scale s = nvfp4_block_scale(float_bits(amax), g);
      if (!s.zero && std::isfinite(s.sg)) scales.push_back(s);
    }
  scales.push_back(nvfp4_block_scale(float_bits(1.0f), 0.0f));    // zero block
  scales.push_back(nvfp4_block_scale(kInfBits, 1.0f));            // NaN block
  ASSERT_GT(scales.size(), 30u);
  for (const NVFP4Scale& s : scales) {
    check(std::integral_constant<RoundKind, RoundKind::NearestEven>{}, s);
    check(std::integral_constant<RoundKind, RoundKind::NearestAway>{}, s);
    check(std::integral_constant<RoundKind, RoundKind::TowardZero>{}, s);
    check(std::integral_constant<RoundKind, RoundKind::Stochastic>{}, s);
    check(std::integral_constant<RoundKind, RoundKind::Up>{}, s);
    check(std::integral_constant<RoundKind, RoundKind::Down>{}, s);
    check(std::integral_constant<RoundKind, RoundKind::NearestUp>{}, s);
  }
  EXPECT_GT(checked, 40000);
}

TEST(NVFP4Reference, LargeRandomTensorsOnEveryThreadCount) {
  std::mt19937 gen(29);
  std::uniform_int_distribution<uint32_t> word;
  const int threads_before = get_num_threads();
  for (int threads : {1, 2, 3})
    for (Rounding mode : kModes) {
      set_num_threads(threads);
      const Shape shape = {70001};
      std::vector<float> x = random_values(gen, numel_of(shape));
      std::vector<uint32_t> rnd(x.size());
      for (auto& r : rnd) r = word(gen);
      const NVFP4Format f{};
      const std::string what = to_string(mode) + " on " + std::to_string(threads) + " threads";
      expect_same_bits(run_kernel(x, shape, f, mode, rnd), reference_nvfp4(x, shape, f, mode, rnd), x, what);
    }
  set_num_threads(threads_before);
}

}  // namespace
}  // namespace qtorch::quant::test
