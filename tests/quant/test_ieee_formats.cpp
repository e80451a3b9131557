// IEEE/OCP presets against real casts (_Float16, bfloat16 by bit rounding) and an
// independent scalar reference, over a wide sample of float32 bit patterns.
#include "qtorch/core/tensor.h"
#include "qtorch/quant/quantize.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

std::vector<float> q(const std::vector<float>& x, const FloatingPoint& f,
                     Rounding r = Rounding::NearestEven, QuantStats* st = nullptr) {
  return quantize(T(x), f, r, {.stats = st}).to_vector();
}

void expect_bits(const std::vector<float>& got, const std::vector<float>& want,
                 const std::vector<float>& in) {
  int misses = 0;
  for (size_t i = 0; i < got.size() && misses < 8; ++i)
    if (!same(got[i], want[i])) {
      ++misses;
      ADD_FAILURE() << "input " << in[i] << " (bits 0x" << std::hex << bits_of(in[i]) << std::dec
                    << "): got " << got[i] << ", want " << want[i];
    }
}

/// bfloat16 cast: round-to-nearest-even on the top 16 bits (NaN kept).
float bf16_cast(float x) {
  if (std::isnan(x)) return x;
  uint32_t b = bits_of(x);
  b += 0x7fffu + ((b >> 16) & 1u);
  return float_of(b & 0xffff0000u);
}

TEST(IeeeFormats, Fp16EqualsFloat16Cast) {
#if defined(__FLT16_MANT_DIG__)  // g++ 12 on x86-64; clang 14 only where the CPU has AVX-512 FP16
  auto x = wide_sample();
  std::vector<float> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = static_cast<float>(static_cast<_Float16>(x[i]));
  expect_bits(q(x, formats::fp16()), want, x);
#else
  GTEST_SKIP() << "this compiler has no _Float16 for this target (clang 14 without AVX-512 FP16)";
#endif
}

TEST(IeeeFormats, Bf16EqualsBfloat16Cast) {
  auto x = wide_sample();
  std::vector<float> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = bf16_cast(x[i]);
  expect_bits(q(x, formats::bf16()), want, x);
}

TEST(IeeeFormats, Fp8AndTf32AgainstScalarReference) {
  auto x = wide_sample(8209);
  struct Case {
    FloatingPoint f;
    int emin, man;
    double max, ovf;
  };
  const double inf = kInf, nan = kNaN;
  for (const Case& c :
       {Case{formats::fp8_e5m2(), -14, 2, 57344.0, inf},
        Case{formats::fp8_e4m3(), -6, 3, 448.0, nan},
        Case{formats::tf32(), -126, 10, std::ldexp(2.0 - std::ldexp(1.0, -10), 127), inf},
        Case{formats::hfp8_e4m3(), -10, 3, 30.0, 30.0}}) {
    std::vector<float> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      want[i] = ref_float_rne(x[i], c.emin, c.man, c.max, c.ovf, true);
      // inf keeps its meaning where the format has it; otherwise it is an overflow
      if (std::isinf(x[i]) && c.f.range != FloatRange::IEEE)
        want[i] = static_cast<float>(std::copysign(c.ovf, static_cast<double>(x[i])));
      if (std::isnan(want[i])) want[i] = kNaN;
    }
    expect_bits(q(x, c.f), want, x);
  }
}

TEST(IeeeFormats, PresetRanges) {
  EXPECT_EQ(formats::fp16().max_value(), 65504.0f);
  EXPECT_EQ(formats::fp8_e4m3().max_value(), 448.0f);
  EXPECT_EQ(formats::fp8_e5m2().max_value(), 57344.0f);
  EXPECT_EQ(formats::hfp8_e4m3().max_value(), 30.0f);
  EXPECT_EQ(formats::hfp8_e4m3().emin(), -10);
  EXPECT_EQ(formats::bf16().max_value(), std::ldexp(1.0f, 127) * (2.0f - std::ldexp(1.0f, -7)));
  // E4M3FN: 464 is the tie between 448 and the NaN code: ties to even keep 448
  auto e = q({464.0f, 465.0f, 1e6f, kInf, -kInf, 0.5f * std::ldexp(1.0f, -9)}, formats::fp8_e4m3());
  EXPECT_EQ(e[0], 448.0f);
  EXPECT_TRUE(std::isnan(e[1]) && std::isnan(e[2]) && std::isnan(e[3]) && std::isnan(e[4]));
  EXPECT_EQ(e[5], 0.0f);  // half the smallest subnormal 2^-9, tie to even
  // HFP8: smallest normal 2^-10, max 30, saturating
  auto h = q({1e3f, std::ldexp(1.0f, -10), 29.5f, 29.0f}, formats::hfp8_e4m3());
  expect_values(h, {30.0f, std::ldexp(1.0f, -10), 30.0f, 28.0f});  // 29 = 14.5 quanta: even
}

TEST(IeeeFormats, SaturationAndOverflowOptions) {
  FloatingPoint sat16 = formats::fp16();
  sat16.saturate = true;
  QuantStats st;
  auto y = q({1e6f, -1e6f, 65519.0f, 65520.0f, kInf}, sat16, Rounding::NearestEven, &st);
  expect_values(y, {65504.0f, -65504.0f, 65504.0f, 65504.0f, kInf});
  EXPECT_EQ(st.clamped, 3);  // 1e6, -1e6, 65520 (inf keeps its meaning in the IEEE range)
  expect_values(q({1e6f, 65520.0f}, formats::fp16()), {kInf, kInf});
  // IEEE 754: overflow rounding toward zero gives max, away from zero inf
  expect_values(q({1e6f, -1e6f}, formats::fp16(), Rounding::TowardZero), {65504.0f, -65504.0f});
  expect_values(q({1e6f, -1e6f}, formats::fp16(), Rounding::Up), {kInf, -65504.0f});
  expect_values(q({1e6f, -1e6f}, formats::fp16(), Rounding::Down), {65504.0f, -kInf});
  FloatingPoint sat_e4m3 = formats::fp8_e4m3();
  sat_e4m3.saturate = true;
  expect_values(q({1e6f, -kInf, 470.0f}, sat_e4m3), {448.0f, -448.0f, 448.0f});
}

TEST(IeeeFormats, SubnormalsOff) {
  FloatingPoint f = formats::fp16();
  f.subnormals = false;
  const float m = std::ldexp(1.0f, -14);  // smallest normal
  QuantStats st;
  auto y = q({0.75f * m, 0.5f * m, 0.25f * m, -0.75f * m, 1e-8f, m}, f, Rounding::NearestEven, &st);
  expect_values(y, {m, 0.0f, 0.0f, -m, 0.0f, m});
  EXPECT_EQ(st.flushed, 3);
  // with subnormals the same inputs keep their values (they are fp16 subnormals)
  auto z = q({0.75f * m, 0.25f * m}, formats::fp16());
  expect_values(z, {0.75f * m, 0.25f * m});
}

}  // namespace
}  // namespace qtorch::quant::test
