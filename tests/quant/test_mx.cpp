// MX (docs/numerics.md, "Microscaling") and the text forms of MX and NVFP4: the spec's
// examples pinned by hand, random tensors against the exact rational reference of
// microscaling_reference.h, and the formats through the library (threads, Philox, the
// quantizer op).
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
// Text forms.

TEST(MicroscalingText, NamesAndFormsRoundTrip) {
  const std::vector<std::pair<std::string, Number>> named = {
      {"mxfp8", formats::mxfp8()},           {"mxfp8_e5m2", formats::mxfp8_e5m2()},
      {"mxfp6", formats::mxfp6()},           {"mxfp6_e3m2", formats::mxfp6_e3m2()},
      {"mxfp4", formats::mxfp4()},           {"mxint8", formats::mxint8()},
      {"nvfp4", formats::nvfp4()},
  };
  for (const auto& [text, number] : named) {
    EXPECT_EQ(number_text(number), text);
    EXPECT_EQ(parse_number(text), number) << text;
  }
  EXPECT_EQ(parse_number("mx:e4m3:32"), Number(formats::mxfp8()));
  EXPECT_EQ(parse_number("mx:e2m1:32"), Number(formats::mxfp4()));
  EXPECT_EQ(parse_number("mx:int8:32"), Number(formats::mxint8()));
  EXPECT_EQ(parse_number("nvfp4:16"), Number(formats::nvfp4()));
  EXPECT_EQ(parse_number("mx:e2m1:32:0"), Number(MXFormat{.element = MXElement::E2M1, .block = 32, .axis = 0}));
  EXPECT_EQ(parse_number(" MX:E3M2:7:-2 "), Number(MXFormat{.element = MXElement::E3M2, .block = 7, .axis = -2}));
  EXPECT_EQ(parse_number("nvfp4:8:1"), Number(NVFP4Format{.block = 8, .axis = 1}));
  for (MXElement e : kElements)
    for (int block : {1, 5, 32, 64})
      for (int axis : {-1, 0, 2}) {
        const Number n = MXFormat{.element = e, .block = block, .axis = axis};
        EXPECT_EQ(parse_number(number_text(n)), n) << number_text(n);
      }
  for (int block : {1, 16, 32})
    for (int axis : {-1, 0, -3}) {
      const Number n = NVFP4Format{.block = block, .axis = axis};
      EXPECT_EQ(parse_number(number_text(n)), n) << number_text(n);
    }
  EXPECT_EQ(number_text(Number(MXFormat{.element = MXElement::E2M1, .block = 16})), "mx:e2m1:16");
  EXPECT_EQ(number_text(Number(NVFP4Format{.block = 32, .axis = 0})), "nvfp4:32:0");
  EXPECT_EQ(to_string(Number(formats::mxfp8())), "MXFormat(element=e4m3, block=32)");
  EXPECT_EQ(to_string(Number(NVFP4Format{.block = 8, .axis = 0})), "NVFP4Format(block=8, axis=0)");
}

TEST(MicroscalingText, BadFormsAreClearErrors) {
  EXPECT_THROW_MSG(parse_number("mx:e9m9:32"), "unknown MX element 'e9m9'");
  EXPECT_THROW_MSG(parse_number("mx:e4m3:0"), "expected block >= 1, got block=0");
  EXPECT_THROW_MSG(parse_number("nvfp4:0"), "expected block >= 1, got block=0");
  EXPECT_THROW_MSG(parse_number("mx:e4m3"), "mx:ELEM:BLOCK[:AXIS]");
  EXPECT_THROW_MSG(parse_number("mx:e4m3:x"), "'x' is not an integer");
  EXPECT_THROW_MSG(parse_number("nvfp4:16:0:1"), "nvfp4[:BLOCK[:AXIS]]");
  // The axis is checked against the tensor.
  const Tensor x = zeros({2, 3});
  EXPECT_THROW_MSG(quantize(x, MXFormat{.axis = 2}, Rounding::Nearest),
                   "expected an axis in [-2, 2) for a tensor of 2 dimensions, got axis=2");
  EXPECT_THROW_MSG(quantize(x, NVFP4Format{.axis = -3}, Rounding::Nearest), "got axis=-3");
  EXPECT_THROW_MSG(quantize(x, MXFormat{.block = 0}, Rounding::Nearest), "block >= 1");
}

// ---------------------------------------------------------------------------------------
// The spec's examples, by hand.

TEST(MXByHand, E2M1TiesUnderEveryMode) {
  // amax 6: scale 2^(2 - 2) = 1; the grid is {0, 0.5, 1, 1.5, 2, 3, 4, 6}.
  const std::vector<float> x = {6, 5, 0.25f, 0.75f, -5, -0.25f, 2.5f, 1.25f};
  const MXFormat f{.element = MXElement::E2M1, .block = 8};
  expect_values(quantize_values(x, {8}, f, Rounding::NearestEven), {6, 4, 0, 1, -4, -0.0f, 2, 1});
  expect_values(quantize_values(x, {8}, f, Rounding::Nearest), {6, 6, 0.5f, 1, -6, -0.5f, 3, 1.5f});
  expect_values(quantize_values(x, {8}, f, Rounding::TowardZero), {6, 4, 0, 0.5f, -4, -0.0f, 2, 1});
  expect_values(quantize_values(x, {8}, f, Rounding::Up), {6, 6, 0.5f, 1, -4, -0.0f, 3, 1.5f});
  expect_values(quantize_values(x, {8}, f, Rounding::Down), {6, 4, 0, 0.5f, -6, -0.5f, 2, 1});
  // The sign of zero is kept.
  EXPECT_TRUE(std::signbit(quantize_values(x, {8}, f, Rounding::NearestEven)[5]));
}

TEST(MXByHand, SaturationAndMask) {
  // amax 7 in binade 2: scale 1, and 7 rounds (spacing 2) to 8 > 6: saturates to 6.
  const std::vector<float> x = {7, -7, 1, 0};
  const MXFormat f{.element = MXElement::E2M1, .block = 4};
  Tensor mask;
  QuantStats stats;
  const Tensor y = quantize(Tensor::from_vector(x, {4}), f, Rounding::NearestEven,
                            {.stats = &stats, .mask = &mask});
  expect_values(y.to_vector(), {6, -6, 1, 0});
  expect_values(mask.to_vector(), {1, 1, 0, 0});
  EXPECT_EQ(stats.clamped, 2);
  EXPECT_EQ(stats.numel, 4);
  // Toward zero 7 -> 6 is on the grid, not a saturation.
  const Tensor y2 = quantize(Tensor::from_vector(x, {4}), f, Rounding::TowardZero, {.mask = &mask});
  expect_values(y2.to_vector(), {6, -6, 1, 0});
  expect_values(mask.to_vector(), {0, 0, 0, 0});
}

TEST(MXByHand, E4M3SubnormalElements) {
  // amax 448 = 1.75 * 2^8: scale 2^0; E4M3 subnormals are multiples of 2^-9.
  const float s = std::ldexp(1.0f, -9);
  const std::vector<float> x = {448, s, s / 2, 3 * s / 2, 5 * s / 2, std::ldexp(1.0f, -6) + s / 2};
  const MXFormat f{.element = MXElement::E4M3, .block = 6};
  QuantStats stats;
  const Tensor y = quantize(Tensor::from_vector(x, {6}), f, Rounding::NearestEven, {.stats = &stats});
  // s/2: tie between 0 and s, to even 0 (flushed); 3s/2 -> 2s; 5s/2 -> 2s; 2^-6 + s/2 is
  // a tie at the normal spacing 2^-9 between 2^-6 (even) and 2^-6 + 2^-9.
  expect_values(y.to_vector(), {448, s, 0, 2 * s, 2 * s, std::ldexp(1.0f, -6)});
  EXPECT_EQ(stats.flushed, 1);
  expect_values(quantize_values(x, {6}, f, Rounding::Nearest), {448, s, s, 2 * s, 3 * s, std::ldexp(1.0f, -6) + s});
}

TEST(MXByHand, Int8IsSignMagnitudeKOver64) {
  // amax 1.5: scale 2^0; the grid is k/64, |k| <= 127.
  const std::vector<float> x = {1.5f, 1.0f / 128, 3.0f / 128, -1.0f / 128, 1.99f};
  const MXFormat f{.element = MXElement::Int8, .block = 5};
  // 1.99 -> 127.36/64 -> 127/64.
  expect_values(quantize_values(x, {5}, f, Rounding::NearestEven), {1.5f, 0, 2.0f / 64, -0.0f, 127.0f / 64});
  expect_values(quantize_values(x, {5}, f, Rounding::Nearest), {1.5f, 1.0f / 64, 2.0f / 64, -1.0f / 64, 127.0f / 64});
  // amax 2: scale 2^1, so the grid is k/32.
  expect_values(quantize_values({2, 1.0f / 64, 3.0f / 64}, {3}, f, Rounding::NearestEven), {2, 0, 2.0f / 32});
}

TEST(MXByHand, ScaleComesFromTheLargestMagnitude) {
  // mxfp8 (e4m3, emax 8): amax 1000 -> floor(log2) = 9, scale 2^1: grid 2 * e4m3.
  // 1000 / 2 = 500 -> 448 (saturates to 896? no: 500 rounds to 512 > 448, saturates to 448).
  const std::vector<float> x = {1000, 3, 1.1f, -0.01f};
  const MXFormat f{.element = MXElement::E4M3, .block = 4};
  // 3 / 2 = 1.5 exact; 1.1 / 2 = 0.55 -> binade -1, spacing 2^-4: 0.5625 -> 1.125;
  // 0.01 / 2 = 0.005 -> subnormal spacing 2^-9: 2.56 * 2^-9 -> 3 * 2^-9 -> 6 * 2^-9 * ... = 0.01171875.
  expect_values(quantize_values(x, {4}, f, Rounding::NearestEven), {896, 3, 1.125f, -0.01171875f});
}

TEST(MXByHand, ZeroBlocksNaNBlocksAndTinyScales) {
  const MXFormat f{.element = MXElement::E4M3, .block = 2};
  // Blocks: (0, -0), (1, NaN), (inf, 2), (2^-140, 2^-141).
  const std::vector<float> x = {0.0f, -0.0f, 1, kNaN, kInf, 2, std::ldexp(1.0f, -140), std::ldexp(1.0f, -141)};
  const std::vector<float> y = quantize_values(x, {8}, f, Rounding::NearestEven);
  EXPECT_TRUE(y[0] == 0 && !std::signbit(y[0]));
  EXPECT_TRUE(y[1] == 0 && std::signbit(y[1]));
  for (int i = 2; i < 6; ++i) EXPECT_TRUE(std::isnan(y[i])) << i;
  // The scale is clamped at 2^-127, so the finest spacing is 2^(-6-127-3) = 2^-136: 2^-140
  // and 2^-141 round to zero.
  EXPECT_EQ(y[6], 0.0f);
  EXPECT_EQ(y[7], 0.0f);
  EXPECT_EQ(quantize_values({std::ldexp(1.0f, -136)}, {1}, f, Rounding::NearestEven)[0], std::ldexp(1.0f, -136));
  EXPECT_EQ(quantize_values({std::ldexp(1.0f, -136)}, {1}, MXFormat{.element = MXElement::E2M1}, Rounding::NearestEven)[0],
            0.0f);  // e2m1: scale 2^-127, spacing 2^-128
}

TEST(MXByHand, PartialBlocksAndAxes) {
  // Last axis, blocks of 2 over rows of 3: (8, 1) (0.3) | (0.3, 8) (1).
  const MXFormat f{.element = MXElement::E2M1, .block = 2};
  const std::vector<float> x = {8, 1, 0.3f, 0.3f, 8, 1};
  // (8, 1): scale 2^(3-2) = 2: 1 -> 1; (0.3): floor(log2 .3) = -2, scale 2^-4: 0.3*16 = 4.8 -> 4 -> 0.25.
  expect_values(quantize_values(x, {2, 3}, f, Rounding::NearestEven), {8, 1, 0.25f, 0, 8, 1});
  // (0.3, 8) shares scale 2: 0.3 / 2 = 0.15 -> 0 (spacing 0.5).
  // Axis 0: columns (8, 0.3), (1, 8), (0.3, 1): each column is one block of 2.
  const MXFormat f0{.element = MXElement::E2M1, .block = 2, .axis = 0};
  expect_values(quantize_values(x, {2, 3}, f0, Rounding::NearestEven), {8, 1, 0.25f, 0, 8, 1});
  // Block 1 along axis 0 of a [2, 3]: every element its own scale: exact for these.
  const MXFormat f1{.element = MXElement::E2M1, .block = 1, .axis = 0};
  expect_values(quantize_values({8, 1, 0.375f, 0.3f, 6, 1}, {2, 3}, f1, Rounding::NearestEven),
                {8, 1, 0.375f, 0.25f, 6, 1});
}

// ---------------------------------------------------------------------------------------
// Random tensors against the reference.

TEST(MXReference, RandomTensorsEveryElementModeBlockAndAxis) {
  std::mt19937 gen(7);
  std::uniform_int_distribution<uint32_t> word;
  const std::vector<std::pair<Shape, int>> shapes = {{{97}, -1}, {{3, 40}, -1}, {{40, 3}, 0}, {{4, 9, 5}, 1},
                                                     {{2, 33}, 0}, {{64}, 0},    {{}, -1}};
  for (MXElement e : kElements)
    for (Rounding mode : kModes)
      for (const auto& [shape, axis] : shapes)
        for (int block : {1, 3, 32}) {
          const int64_t n = numel_of(shape);
          std::vector<float> x;
          for (int64_t i = 0; i < n; i += 8) {
            auto part = random_values(gen, std::min<int64_t>(8, n - i));
            x.insert(x.end(), part.begin(), part.end());
          }
          if (gen() % 7 == 0) x[gen() % n] = (gen() % 2) ? kNaN : -kInf;
          std::vector<uint32_t> rnd(x.size());
          for (auto& r : rnd) r = word(gen);
          const MXFormat f{.element = e, .block = block, .axis = axis};
          const std::string what = number_text(Number(f)) + " " + shape_str(shape) + " " + to_string(mode);
          expect_same_bits(run_kernel(x, shape, f, mode, rnd), reference_mx(x, shape, f, mode, rnd), x, what);
        }
}

TEST(MXReference, BlocksDownManyColumnsGoInSlabsWithTheirElementsWords) {
  // Blocks down columns (axis 0) of tensors wider than the CPU's slab of columns per work item
  // (1024 for blocks of 32, 2048 for 16), with a partial last block row: every mode with given
  // words, and stochastic rounding with the library's own stream (element i takes word i), on
  // 1, 2 and 3 threads; the clamped and flushed counts against the reference's.
  std::mt19937 gen(17);
  std::uniform_int_distribution<uint32_t> word;
  const int threads_before = get_num_threads();
  const std::vector<std::pair<Number, Shape>> cases = {
      {Number(MXFormat{.element = MXElement::E4M3, .block = 32, .axis = 0}), {35, 2100}},
      {Number(MXFormat{.element = MXElement::E2M1, .block = 32, .axis = 0}), {33, 1030}},
      {Number(NVFP4Format{.block = 16, .axis = 0}), {20, 4200}}};
  for (const auto& one_case : cases) {
    const Number& number = one_case.first;  // named, not bound: clang 14 captures no bindings
    const Shape& shape = one_case.second;
    std::vector<float> x = random_values(gen, numel_of(shape));
    for (size_t i = 0; i < x.size(); i += 997) x[i] = i % 2 ? kNaN : kInf;
    const auto reference = [&](Rounding mode, const std::vector<uint32_t>& rnd) {
      if (const auto* mx = std::get_if<MXFormat>(&number)) return reference_mx(x, shape, *mx, mode, rnd);
      return reference_nvfp4(x, shape, std::get<NVFP4Format>(number), mode, rnd);
    };
    const std::string what = number_text(number) + " " + shape_str(shape);
    for (Rounding mode : kModes) {
      std::vector<uint32_t> rnd(x.size());
      for (auto& r : rnd) r = word(gen);
      const RefOut want = reference(mode, rnd);
      int64_t clamped = 0, flushed = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        clamped += want.mask[i] != 0.0f;
        flushed += std::isfinite(x[i]) && x[i] != 0.0f && want.y[i] == 0.0f;
      }
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        const std::string where = what + " " + to_string(mode) + " on " + std::to_string(threads) + " threads";
        QuantStats stats;
        expect_same_bits(run_kernel(x, shape, number, mode, rnd, &stats), want, x, where);
        EXPECT_EQ(stats.clamped, clamped) << where;
        EXPECT_EQ(stats.flushed, flushed) << where;
      }
    }
    Generator g(77);
    const uint64_t offset = g.offset();
    std::vector<uint32_t> stream(x.size());
    for (size_t i = 0; i < stream.size(); ++i) stream[i] = philox_bits(77, offset, i);
    const std::vector<float> want = reference(Rounding::Stochastic, stream).y;
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      Generator same(77);
      expect_values(quantize(Tensor::from_vector(x, shape), number, Rounding::Stochastic, {.generator = &same}).to_vector(),
                    want, x);
    }
  }
  set_num_threads(threads_before);
}

// ---------------------------------------------------------------------------------------
// Through the library: thread counts, stats, the quantizer op.

TEST(Microscaling, SameBitsOnAnyThreadCountAndInPlace) {
  std::mt19937 gen(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(300000);
  for (float& x : v) x = normal(gen) * std::ldexp(1.0f, static_cast<int>(gen() % 9) - 4);
  const Tensor x = Tensor::from_vector(v, {300, 1000});
  for (const Number& number : {Number(formats::mxfp8()), Number(formats::mxfp4()), Number(formats::nvfp4()),
                               Number(MXFormat{.element = MXElement::E2M3, .block = 32, .axis = 0})})
    for (Rounding mode : {Rounding::NearestEven, Rounding::Stochastic}) {
      const int saved = get_num_threads();
      std::vector<std::vector<float>> results;
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        Generator g(42);
        results.push_back(quantize(x, number, mode, {.generator = &g}).to_vector());
      }
      set_num_threads(saved);
      Generator g(42);
      Tensor inplace = x.clone();
      quantize_into(inplace, inplace, number, mode, {.generator = &g});
      results.push_back(inplace.to_vector());
      for (size_t k = 1; k < results.size(); ++k)
        EXPECT_TRUE(testing::expect_bitwise_equal(results[k], results[0])) << number_text(number) << " " << k;
    }
}

TEST(Microscaling, StochasticDrawsFromPhiloxLikeEveryFormat) {
  // Element i uses word i of the call's stream: the kernel fed those words gives the same bits.
  std::mt19937 gen(5);
  const std::vector<float> x = random_values(gen, 1000);
  Generator g(9);
  const uint64_t offset = g.offset();
  const Tensor y = quantize(Tensor::from_vector(x, {10, 100}), formats::mxfp4(), Rounding::Stochastic, {.generator = &g});
  std::vector<uint32_t> rnd(x.size());
  for (size_t i = 0; i < rnd.size(); ++i) rnd[i] = philox_bits(9, offset, i);
  const RefOut want = reference_mx(x, {10, 100}, formats::mxfp4(), Rounding::Stochastic, rnd);
  expect_values(y.to_vector(), want.y, x);
  EXPECT_EQ(g.offset(), offset + 250);
}

TEST(Microscaling, StochasticRoundingIsUnbiased) {
  // Elements between grid points of their block: the mean over draws approaches x.
  std::vector<float> v;
  for (int i = 0; i < 32; ++i) v.push_back(i == 0 ? 6.0f : 0.1f + 0.17f * static_cast<float>(i % 30));
  const Tensor x = Tensor::from_vector(v, {32});
  testing::StochasticOptions options;
  options.samples = 2000;
  const auto result = testing::check_stochastic_rounding(
      [](const Tensor& t) { return quantize(t, formats::mxfp4(), Rounding::Stochastic); }, x, formats::mxfp4(), options);
  EXPECT_TRUE(result) << result.message;
}

TEST(Microscaling, QuantizerZeroesTheGradientOfSaturatedElements) {
  Tensor x = T({7, 1, -7, 0.5f});
  x.requires_grad_(true);
  auto q = quantizer({.forward_number = MXFormat{.element = MXElement::E2M1, .block = 4},
                      .backward_number = formats::mxfp8(),
                      .forward_rounding = Rounding::NearestEven,
                      .backward_rounding = Rounding::NearestEven,
                      .clamping_grad_zero = true});
  Tensor y = q(x);
  expect_values(y.to_vector(), {6, 1, -6, 0.5f});
  y.backward(T({1, 1, 1, 1}));
  expect_values(x.grad().to_vector(), {0, 1, 0, 1});
}

}  // namespace
}  // namespace qtorch::quant::test
