// qmatmul (docs/numerics.md, "Low-precision multiply-accumulate"): hand-worked examples,
// options and their errors, the vector kernels against the scalar chain, threads, random
// words and the graph op's gradients. The exact reference on random matrices is
// test_qmatmul_reference.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "qtorch/core/error.h"
#include "qtorch/core/philox.h"
#include "qtorch/core/threads.h"
#include "qtorch/quant/cpu/qmatmul_cpu.h"
#include "qtorch/quant/mac.h"
#include "qtorch/quant/mac_core.h"
#include "qtorch/quant/round_kind_dispatch.h"
#include "qtorch/quant/quantize.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

MacOptions mac(const std::string& text) { return parse_mac(text); }

// y = a . b as a 1 x K times K x 1 product.
float dot(const std::vector<float>& a, const std::vector<float>& b, const MacOptions& o) {
  const int64_t k = static_cast<int64_t>(a.size());
  return qmatmul_forward(Tensor::from_vector(a, {1, k}), Tensor::from_vector(b, {k, 1}), o).to_vector()[0];
}
float sum(const std::vector<float>& a, const MacOptions& o) { return dot(a, std::vector<float>(a.size(), 1.0f), o); }

// ---------------------------------------------------------------------------------------
// Hand-worked examples (fp16 accumulator: ulp(1) = 2^-10).

TEST(QmatmulByHand, SwampingOfOnePlusManySmallTerms) {
  // 1 + 16 x 2^-12: each term is a quarter ulp of 1 and vanishes; the exact sum is 1 + 2^-8.
  std::vector<float> x = {1.0f};
  for (int i = 0; i < 16; ++i) x.push_back(std::ldexp(1.0f, -12));
  EXPECT_EQ(sum(x, mac("acc=fp16")), 1.0f);
  EXPECT_EQ(sum(x, mac("acc=float:8:23")), 1.0f + std::ldexp(1.0f, -8));
  // Chunks of 4: [1, 3 terms] -> 1; three chunks of 4 terms -> 2^-10 each; [1 term] -> 2^-12.
  // Then 1 + 3 x 2^-10 (exact), + 2^-12 swamped.
  EXPECT_EQ(sum(x, mac("acc=fp16,chunk=4")), 1.0f + 3 * std::ldexp(1.0f, -10));
}

TEST(QmatmulByHand, ATieInEachMode) {
  // 1 + 2^-11 is half an ulp above 1 (even) and below 1 + 2^-10 (odd).
  const float up = 1.0f + std::ldexp(1.0f, -10), h = std::ldexp(1.0f, -11);
  EXPECT_EQ(sum({1, h}, mac("acc=fp16,acc_rounding=nearest_even")), 1.0f);
  EXPECT_EQ(sum({1, h}, mac("acc=fp16,acc_rounding=nearest")), up);  // floating point: ties away
  EXPECT_EQ(sum({1, h}, mac("acc=fp16,acc_rounding=toward_zero")), 1.0f);
  EXPECT_EQ(sum({1, h}, mac("acc=fp16,acc_rounding=up")), up);
  EXPECT_EQ(sum({1, h}, mac("acc=fp16,acc_rounding=down")), 1.0f);
  EXPECT_EQ(sum({-1, -h}, mac("acc=fp16,acc_rounding=nearest_even")), -1.0f);
  EXPECT_EQ(sum({-1, -h}, mac("acc=fp16,acc_rounding=nearest")), -up);
  EXPECT_EQ(sum({-1, -h}, mac("acc=fp16,acc_rounding=up")), -1.0f);
  EXPECT_EQ(sum({-1, -h}, mac("acc=fp16,acc_rounding=down")), -up);
  const float s = sum({1, h}, mac("acc=fp16,acc_rounding=stochastic"));
  EXPECT_TRUE(s == 1.0f || s == up) << s;
  // Fixed point ties to even under Nearest: 1/32 on the grid 1/16 is a tie between 0 and 1/16.
  EXPECT_EQ(sum({1.0f / 32}, mac("acc=fixed:8:4")), 0.0f);
  EXPECT_EQ(sum({3.0f / 32}, mac("acc=fixed:8:4")), 2.0f / 16);
}

TEST(QmatmulByHand, NoDoubleRoundingThroughTheDoubleSum) {
  // c = 1 + 2^-10 (fp16, odd last bit); p = (1 + 2^-23) * 2^-11 (1 - 2^-23) = 2^-11 - 2^-57.
  // The exact sum lies 2^-57 below the midpoint 1 + 2^-10 + 2^-11, so every nearest mode
  // rounds down. The double nearest to the sum is the midpoint itself (2^-57 is below half
  // a double ulp of 1), where ties to even would go up and ties away too.
  const float c = 1.0f + std::ldexp(1.0f, -10), a = 1.0f + std::ldexp(1.0f, -23),
              b = std::ldexp(1.0f - std::ldexp(1.0f, -23), -11);
  for (const char* rounding : {"nearest", "nearest_even"})
    EXPECT_EQ(dot({1, a}, {c, b}, mac(std::string("acc=fp16,acc_rounding=") + rounding)), c) << rounding;
  // Toward zero and down likewise stay below the midpoint; up goes to the next grid point.
  EXPECT_EQ(dot({1, a}, {c, b}, mac("acc=fp16,acc_rounding=toward_zero")), c);
  EXPECT_EQ(dot({1, a}, {c, b}, mac("acc=fp16,acc_rounding=up")), c + std::ldexp(1.0f, -10));
  // A sum landing exactly on a grid point from below: c + 2^-10 - 2^-56 truncates to c.
  const float b2 = std::ldexp(1.0f - std::ldexp(1.0f, -23), -10);
  EXPECT_EQ(dot({1, a}, {c, b2}, mac("acc=fp16,acc_rounding=toward_zero")), c);
  EXPECT_EQ(dot({1, a}, {c, b2}, mac("acc=fp16,acc_rounding=nearest_even")), c + std::ldexp(1.0f, -10));
}

TEST(QmatmulByHand, AKahanStep) {
  // Plain fp16: 1 + 2^-11 ties to 1 twice. Kahan: the first lost half ulp goes to the
  // compensation (-2^-11), the second y = 2^-11 + 2^-11 = 2^-10 lands: 1 + 2^-10, exact.
  const float h = std::ldexp(1.0f, -11);
  const MacOptions plain = mac("acc=fp16,acc_rounding=nearest_even");
  EXPECT_EQ(sum({1, h, h}, plain), 1.0f);
  MacOptions kahan = plain;
  kahan.compensated = true;
  EXPECT_EQ(sum({1, h, h}, kahan), 1.0f + std::ldexp(1.0f, -10));
}

TEST(QmatmulByHand, ChunkBoundaries) {
  // chunk=2 on [1, h, h, 1]: (1 + h) -> 1 (tie, even); (h + 1) -> 1; 1 + 1 = 2.
  // chunk=3: (1 + h + h) -> 1; (1) -> 1; 2. chunk=1: every term its own chunk: the sums of
  // chunks are the plain chain.
  // [1, h, h, h, h], h = 2^-11 (half an ulp of 1), nearest even. Plain: 1 + h ties to 1
  // every time: 1. chunk=2: (1 + h) -> 1, (h + h) = 2^-10, (h) = 2^-11; 1 + 2^-10 is exact,
  // and + 2^-11 ties to the even 1 + 2^-9: the exact sum. chunk=4: (1 + 3h) -> 1, (h): 1.
  // chunk=1 is the plain chain; a chunk longer than K too.
  const float h = std::ldexp(1.0f, -11);
  const std::vector<float> x = {1, h, h, h, h};
  EXPECT_EQ(sum(x, mac("acc=fp16,acc_rounding=nearest_even")), 1.0f);
  EXPECT_EQ(sum(x, mac("acc=fp16,acc_rounding=nearest_even,chunk=2")), 1.0f + std::ldexp(1.0f, -9));
  EXPECT_EQ(sum(x, mac("acc=fp16,acc_rounding=nearest_even,chunk=4")), 1.0f);
  EXPECT_EQ(sum(x, mac("acc=fp16,acc_rounding=nearest_even,chunk=1")), 1.0f);
  EXPECT_EQ(sum(x, mac("acc=fp16,acc_rounding=nearest_even,chunk=64")), 1.0f);
}

TEST(QmatmulByHand, OverflowToInfAndSaturation) {
  // IEEE fp16: 60000 + 60000 = 120000 > 65504: inf.
  EXPECT_EQ(sum({60000, 60000}, mac("acc=fp16")), INFINITY);
  EXPECT_EQ(sum({-60000, -60000}, mac("acc=fp16")), -INFINITY);
  // Toward zero gives the largest finite value instead (IEEE).
  EXPECT_EQ(sum({60000, 60000}, mac("acc=fp16,acc_rounding=toward_zero")), 65504.0f);
  // Reference e5m2 (float:5:2, saturating, max 114688): 60000 -> 57344; 57344 + 70000 =
  // 127344 -> 131072 > max: saturates.
  EXPECT_EQ(sum({60000, 70000}, mac("acc=float:5:2")), 114688.0f);
  // An infinite operand follows IEEE arithmetic; inf - inf is NaN.
  EXPECT_EQ(sum({INFINITY, 1}, mac("acc=fp16")), INFINITY);
  EXPECT_TRUE(std::isnan(sum({INFINITY, -INFINITY}, mac("acc=fp16"))));
  EXPECT_TRUE(std::isnan(sum({NAN, 1}, mac("acc=fp16"))));
}

TEST(QmatmulByHand, NaNIsThePositiveQuietNaN) {
  // x86's inf - inf and inf * 0 give a negative NaN, CUDA's a positive one; a NaN operand
  // brings its own sign and payload. qmatmul gives 0x7fc00000 for all, on every device.
  const float negative_nan = -std::nanf("0x123");
  for (const char* acc : {"acc=fp16", "acc=bf16,kahan", "acc=fp16,chunk=2", "acc=fp16,mul=float:8:7", "acc=fp16,fma"}) {
    for (const float got : {sum({INFINITY, -INFINITY}, mac(acc)), dot({INFINITY, 1}, {0, 1}, mac(acc)),
                            sum({1, negative_nan, 2}, mac(acc))})
      EXPECT_EQ(qtorch::testing::bits_of(got), 0x7fc00000u) << acc << ": " << got;
  }
  // Fixed point clamps infinities, so only a NaN operand makes a NaN there.
  EXPECT_EQ(qtorch::testing::bits_of(sum({1, negative_nan, 2}, mac("acc=fixed:16:8"))), 0x7fc00000u);
}

// a . b through the scalar chain (one column) and through the vector kernels (the same
// column forty times): the bits of every output.
std::vector<uint32_t> dot_bits_every_kernel(const std::vector<float>& a, const std::vector<float>& b, const MacOptions& o) {
  const int64_t k = static_cast<int64_t>(a.size()), wide = 40;
  std::vector<uint32_t> bits = {qtorch::testing::bits_of(dot(a, b, o))};
  std::vector<float> columns(static_cast<size_t>(k * wide));
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < wide; ++j) columns[i * wide + j] = b[i];
  for (float y : qmatmul_forward(Tensor::from_vector(a, {1, k}), Tensor::from_vector(columns, {k, wide}), o).to_vector())
    bits.push_back(qtorch::testing::bits_of(y));
  return bits;
}

// The grid is the format's values that float32 holds. Past float32's range (a floating
// format whose exponents reach 2^128, fixed point without clamp) a value overflows as in
// float32: to the grid's largest float32 where the mode rounds toward zero, else to inf.
// Where a fixed-point grid is finer than float32's (past 2^(24 - fl)), float32's step is
// the grid's: the exact value is still rounded once.
TEST(QmatmulByHand, PastFloat32sRangeAndStepTheGridIsFloat32s) {
  const float big = 1e30f, flt_max = std::numeric_limits<float>::max(), two24 = 16777216.0f;
  struct Case {
    std::vector<float> a, b;
    const char* options;
    uint32_t want;
  };
  const Case cases[] = {
      // float:8:23 (the default): 1e30 x -1e30 = -1e60 -> -inf, and -inf + 1e60 stays -inf.
      {{big, big}, {-big, big}, "acc=float:8:23", 0xff800000u},
      {{big, big}, {big, -big}, "acc=float:8:23", 0x7f800000u},
      // With the products rounded too: -inf + inf.
      {{big, big}, {-big, big}, "acc=float:8:23,mul=float:8:23", 0x7fc00000u},
      // 2 x FLT_MAX: toward zero (and up for negatives, down for positives) keeps FLT_MAX.
      {{flt_max, flt_max}, {1, 1}, "acc=float:8:23,acc_rounding=toward_zero", 0x7f7fffffu},
      {{flt_max, flt_max}, {1, 1}, "acc=float:8:23,acc_rounding=down", 0x7f7fffffu},
      {{flt_max, flt_max}, {1, 1}, "acc=float:8:23,acc_rounding=up", 0x7f800000u},
      {{flt_max, flt_max}, {1, 1}, "acc=float:8:23", 0x7f800000u},
      {{flt_max, flt_max}, {-1, -1}, "acc=float:8:23,acc_rounding=up", 0xff7fffffu},
      {{flt_max, flt_max}, {-1, -1}, "acc=float:8:23,acc_rounding=down", 0xff800000u},
      // float:8:7: 2^100 x 2^100 = 2^200 toward zero: 2^127 (2 - 2^-7), the grid's largest float32.
      {{0x1p100f}, {0x1p100f}, "acc=float:8:7,acc_rounding=toward_zero", 0x7f7f0000u},
      {{0x1p100f}, {0x1p100f}, "acc=float:8:7,acc_rounding=nearest_even", 0x7f800000u},
      {{0x1p100f}, {-0x1p100f}, "acc=float:8:10,acc_rounding=up", 0xff7fe000u},
      // A product past float32's range in a fixed multiply format without clamp.
      {{-flt_max}, {2}, "acc=float:8:23,mul=fixed:6:3:noclamp,mul_rounding=toward_zero", 0xff7fffffu},
      {{-flt_max}, {2}, "acc=float:8:23,mul=fixed:6:3:noclamp,mul_rounding=down", 0xff800000u},
      // fixed:8:4 without clamp at 2^24 + 0.5: float32's step there is 2, so up gives 2^24 + 2.
      {{two24, 0.5f}, {1, 1}, "acc=fixed:8:4:noclamp,acc_rounding=up", 0x4b800001u},
      {{two24, 0.5f}, {1, 1}, "acc=fixed:8:4:noclamp,acc_rounding=down", 0x4b800000u},
      // 2^24 + 1.25 lies nearer 2^24 + 2 than 2^24 (rounding to 1 first, then to float32, gave 2^24).
      {{two24, 1.25f}, {1, 1}, "acc=fixed:8:0:noclamp", 0x4b800001u},
      {{two24, 1.0f}, {1, 1}, "acc=fixed:8:0:noclamp", 0x4b800000u},  // a tie: the even float32
      // fixed:40:2 clamps at 2^37, beyond float32's step 2 at 2^24: 2^24 + 1.125 -> 2^24 + 2.
      {{two24, 1.125f}, {1, 1}, "acc=fixed:40:2", 0x4b800001u},
      // An overflow to NaN (E4M3FN without saturation) is the positive quiet NaN too.
      {{-1024}, {1}, "acc=e4m3", 0x7fc00000u},
      {{-INFINITY}, {1}, "acc=e4m3", 0x7fc00000u},
      {{-1024, 1}, {1, 1}, "acc=fp16,mul=e4m3", 0x7fc00000u},
  };
  for (const Case& c : cases) {
    const std::vector<uint32_t> got = dot_bits_every_kernel(c.a, c.b, mac(c.options));
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(got[i], c.want) << c.options << (i == 0 ? ", one column" : ", forty columns, column ") << (i == 0 ? 0 : i - 1)
                                << ": got 0x" << std::hex << got[i] << ", want 0x" << c.want;
  }
}

TEST(QmatmulByHand, FixedPointAccumulator) {
  // fixed:8:4 (grid 1/16, range [-8, 7.9375]): 3.3 -> 53/16; + 2.2 = 5.5125 -> 88/16 = 5.5;
  // + 3 = 8.5 -> clamped to 7.9375.
  EXPECT_EQ(sum({3.3f, 2.2f}, mac("acc=fixed:8:4")), 5.5f);
  EXPECT_EQ(sum({3.3f, 2.2f, 3.0f}, mac("acc=fixed:8:4")), 7.9375f);
  EXPECT_EQ(sum({-5.0f, -5.0f}, mac("acc=fixed:8:4")), -8.0f);
}

TEST(QmatmulByHand, MultiplyFormatAndFma) {
  // 3 x 3 = 9 on e5m2's grid (spacing 2 in [8, 16)): a tie between 8 and 10.
  EXPECT_EQ(dot({3}, {3}, mac("acc=float:8:23,mul=float:5:2")), 10.0f);  // ties away
  EXPECT_EQ(dot({3}, {3}, mac("acc=float:8:23,mul=float:5:2,mul_rounding=nearest_even")), 8.0f);
  // Without a multiply format the product is exact, so fma gives the same chain:
  // 1 + (1 + 2^-10) 2^-11 = 1 + 2^-11 + 2^-21 rounds up to 1 + 2^-10 either way.
  const float a = 1.0f + std::ldexp(1.0f, -10), h = std::ldexp(1.0f, -11);
  EXPECT_EQ(dot({1, a}, {1, h}, mac("acc=fp16,acc_rounding=nearest_even")), a);
  EXPECT_EQ(dot({1, a}, {1, h}, mac("acc=fp16,acc_rounding=nearest_even,fma")), a);
  // With a product rounded first, (1 + 2^-10) 2^-11 -> 2^-11 in fp16 spacing? no: e5m2 makes
  // it 2^-11, and then 1 + 2^-11 is a tie: nearest even gives 1.
  EXPECT_EQ(dot({1, a}, {1, h}, mac("acc=fp16,acc_rounding=nearest_even,mul=float:5:2")), 1.0f);
}

// ---------------------------------------------------------------------------------------
// Options: text, validation.

TEST(QmatmulOptions, TextRoundTripsAndErrorsAreClear) {
  for (const char* text : {"acc=fp16", "acc=fp16,mul=e5m2,chunk=64", "acc=bf16,fma", "acc=fixed:16:8,kahan",
                           "acc=float:5:2,mul=float:4:3,acc_rounding=stochastic,mul_rounding=toward_zero"}) {
    const MacOptions o = parse_mac(text);
    EXPECT_EQ(mac_text(o), text);
    EXPECT_EQ(parse_mac(mac_text(o)), o);
  }
  EXPECT_THROW_MSG(parse_mac("mul=e5m2"), "no acc=FORMAT");
  EXPECT_THROW_MSG(parse_mac("acc=fp16,mul=e5m2,fma"), "fma rounds a*b + c once");
  EXPECT_THROW_MSG(parse_mac("acc=fp16,kahan,chunk=4"), "not both");
  EXPECT_THROW_MSG(parse_mac("acc=mxfp8"), "block, MX and NVFP4 formats are per tensor");
  EXPECT_THROW_MSG(parse_mac("acc=block:8:0"), "per tensor");
  EXPECT_THROW_MSG(parse_mac("acc=fp16,chunk=0"), "chunk expects a positive integer");
  EXPECT_THROW_MSG(parse_mac("acc=fp16,wat"), "unknown part 'wat'");
  EXPECT_THROW_MSG(parse_mac("acc=fp16,acc=bf16"), "'acc' given twice");
  EXPECT_THROW_MSG(parse_mac("acc=fp16,kahan,kahan"), "'kahan' given twice");
  EXPECT_THROW_MSG(parse_mac("acc=fp99"), "acc:");
  EXPECT_THROW_MSG(parse_mac("acc=fp16,acc_rounding=sideways"), "acc_rounding");
  EXPECT_THROW_MSG(parse_mac("acc=fp16,kahan,fma"), "got compensated with fma");
  EXPECT_THROW_MSG(parse_mac("acc=fp16,mul=fp32"), "leave mul out");
  EXPECT_THROW_MSG(parse_mac("acc=fp32"), "acc=float:8:23");
  EXPECT_THROW_MSG(parse_mac("FP32"), "fp32 alone means none");
  // Where options are optional, fp32 or none in any case is the float32 product.
  for (const char* text : {"fp32", " FP32 ", "None"}) EXPECT_FALSE(parse_optional_mac(text).has_value()) << text;
  EXPECT_EQ(parse_optional_mac("ACC=FP16, Chunk=4"), std::optional<MacOptions>(parse_mac("acc=fp16,chunk=4")));
  EXPECT_THROW_MSG(qmatmul_forward(zeros({2, 3}), zeros({4, 2}), mac("acc=fp16")), "expected [M, K] x [K, N], got [2, 3] x [4, 2]");
  EXPECT_THROW_MSG(qmatmul_forward(zeros({2}), zeros({2, 2}), mac("acc=fp16")), "expected [M, K] x [K, N]");
  MacOptions bad;
  bad.chunk = -1;
  EXPECT_THROW_MSG(bad.validate(), "0 <= chunk < 2^31");
  // A chunk near INT64_MAX overflowed the random words' layout (audit s29).
  EXPECT_THROW_MSG(parse_mac("acc=fp16,chunk=9223372036854775807"), "0 <= chunk < 2^31");
}

// ---------------------------------------------------------------------------------------
// The vector kernels against the scalar chain (which test_qmatmul_reference.cpp checks).

TEST(QmatmulReference, VectorKernelMatchesTheScalarChain) {
  // The vector kernels (float32 lanes, doubles, and stochastic rounding's) against the
  // scalar chain: full tiles and ragged tails (N = 77 and 100), every mode and option, on
  // four operand sets:
  // - full-width values down in fp16's subnormal range and up to its overflow, a few
  //   infinities and NaNs;
  // - short values (a few significant bits, exponents close together), whose sums are
  //   often exact and land on the grids' values and midpoints, the decision points where
  //   the float32 rule must hand over to the exact path, or to exact zeros;
  // - short values with exponents far apart, whose products are exact in float32 and
  //   whose sums are often not;
  // - a first step of normal products, then products of about 2^-160, which float32 loses
  //   (its product is 0 and its error too) while the exact sum moves off the grid.
  std::mt19937 gen(23);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-14, 7), small(-12, 12), near(-3, 1), far(-12, 5);
  const int64_t M = 3, K = 29;
  const Rounding modes[] = {Rounding::Nearest, Rounding::NearestEven, Rounding::TowardZero,
                            Rounding::Up,      Rounding::Down,        Rounding::Stochastic};
  enum class Operands { FullWidth, Short, ShortWide, TinyProducts };
  for (const int64_t N : {77, 100})
    for (const Operands operands : {Operands::FullWidth, Operands::Short, Operands::ShortWide, Operands::TinyProducts}) {
      std::vector<float> av(M * K), bv(K * N);
      for (auto* v : {&av, &bv})
        for (size_t e = 0; e < v->size(); ++e) {
          const bool first_step = (v == &av ? e % K : e / N) == 0;
          float& x = (*v)[e];
          if (operands == Operands::FullWidth)
            x = normal(gen) * std::ldexp(1.0f, exponent(gen));
          else if (operands == Operands::Short || (operands == Operands::TinyProducts && first_step))
            x = std::ldexp(static_cast<float>(small(gen)), near(gen));
          else if (operands == Operands::ShortWide)
            x = std::ldexp(static_cast<float>(small(gen)), far(gen));
          else
            x = std::ldexp(static_cast<float>(small(gen)), -80);  // short, but too small
        }
      if (operands == Operands::FullWidth)
        av[5] = INFINITY, bv[40] = NAN, av[M * K - 1] = -INFINITY, bv[7] = 0.0f, bv[8] = -0.0f;
      // A row of A (1) and a column of B (70, in the group of sixteen from column 64) that
      // are not short: the CPU kernel picks its path per tile.
      if (operands == Operands::Short || operands == Operands::ShortWide) {
        // Their first products with a short value are 1 + 3 2^-11 + 2^-25, just above an
        // fp16 midpoint that float32 rounds them to (a tie that goes down to even); column
        // 70 is zero after, so that its sums keep the difference.
        const float wide = std::ldexp(11233963.0f, -25);
        for (int64_t k = 0; k < K; ++k) av[K + k] = normal(gen), bv[k * N + 70] = 0.0f;
        av[0] = 3.0f, bv[70] = wide;   // row 0 (short) with column 70
        av[K] = wide, bv[0] = 3.0f;    // row 1 with column 0 (short)
        av[2 * K + 4] = INFINITY;      // row 2: infinite sums, then exact products
      }
      for (const char* acc : {"fp16", "bf16", "float:5:2", "float:4:3:fn", "float:5:7:nosub", "float:8:23", "float:3:0",
                              "float:8:22", "float:4:1:nosat"})
        for (const char* extra : {"", ",mul=float:5:2", ",mul=float:4:3:nosat:fn", ",chunk=5", ",kahan", ",fma"})
          for (Rounding mode : modes) {
            MacOptions o = parse_mac(std::string("acc=") + acc + extra);
            o.accumulate_rounding = mode;
            o.multiply_rounding = mode == Rounding::Stochastic ? Rounding::Nearest : modes[(static_cast<int>(mode) + 1) % 5];
            MacParams m;
            m.M = M, m.K = K, m.N = N;
            m.has_mul = o.multiply.has_value();
            if (m.has_mul) m.mul = make_quant_params(*o.multiply, o.multiply_rounding, {1});
            m.acc = make_quant_params(o.accumulate, o.accumulate_rounding, {1});
            m.fma = o.fma, m.compensated = o.compensated, m.chunk = o.chunk;
            set_mac_word_layout(m);
            std::vector<float> fast(M * N), scalar(M * N);
            qmatmul_cpu(av.data(), bv.data(), fast.data(), m, 12345, 7, true);
            qmatmul_cpu(av.data(), bv.data(), scalar.data(), m, 12345, 7, false);
            const auto r = qtorch::testing::expect_bitwise_equal(fast, scalar);
            ASSERT_TRUE(r) << mac_text(o) << ", operands " << static_cast<int>(operands) << ", N " << N << ": "
                           << r.message;
          }
    }
}

TEST(QmatmulReference, StochasticLanesAcrossTheirWordChunks) {
  // The stochastic vector kernel makes its words 256 steps at a time: a long K (three
  // chunks, the last partial) and a ragged row (21 columns) give the scalar chain's bits.
  std::mt19937 gen(29);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t M = 2, K = 600, N = 21;
  std::vector<float> av(M * K), bv(K * N);
  for (auto* v : {&av, &bv})
    for (float& x : *v) x = normal(gen);
  for (const char* acc : {"fp16", "bf16", "float:5:2"}) {
    MacParams m;
    m.M = M, m.K = K, m.N = N;
    m.acc = make_quant_params(parse_mac(std::string("acc=") + acc).accumulate, Rounding::Stochastic, {1});
    set_mac_word_layout(m);
    std::vector<float> fast(M * N), scalar(M * N);
    qmatmul_cpu(av.data(), bv.data(), fast.data(), m, 99, 5, true);
    qmatmul_cpu(av.data(), bv.data(), scalar.data(), m, 99, 5, false);
    const auto r = qtorch::testing::expect_bitwise_equal(fast, scalar);
    ASSERT_TRUE(r) << acc << ": " << r.message;
  }
}

// ---------------------------------------------------------------------------------------
// Threads, randomness, gradients.

TEST(Qmatmul, SameBitsOnAnyThreadCount) {
  manual_seed(5);
  const Tensor a = randn({37, 50}), b = randn({50, 23});
  for (const char* text : {"acc=fp16,acc_rounding=stochastic,mul=e5m2,mul_rounding=stochastic", "acc=bf16,kahan",
                           "acc=fp16,chunk=8"}) {
    std::vector<std::vector<float>> results;
    const int saved = get_num_threads();
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      Generator g(7);
      results.push_back(qmatmul_forward(a, b, parse_mac(text), &g).to_vector());
    }
    set_num_threads(saved);
    EXPECT_TRUE(qtorch::testing::expect_bitwise_equal(results[1], results[0])) << text;
    EXPECT_TRUE(qtorch::testing::expect_bitwise_equal(results[2], results[0])) << text;
  }
}

TEST(Qmatmul, StochasticCallsDrawFreshBits) {
  manual_seed(6);
  const Tensor a = randn({8, 40}), b = randn({40, 8});
  const MacOptions o = parse_mac("acc=float:5:4,acc_rounding=stochastic");
  const std::vector<float> y1 = qmatmul_forward(a, b, o).to_vector(), y2 = qmatmul_forward(a, b, o).to_vector();
  EXPECT_NE(y1, y2);
  manual_seed(6);
  (void)randn({8, 40}), (void)randn({40, 8});
  EXPECT_EQ(qmatmul_forward(a, b, o).to_vector(), y1);
}

TEST(Qmatmul, WideFormatsMatchFiniteDifferences) {
  manual_seed(8);
  const MacOptions wide = parse_mac("acc=float:8:23");
  const auto result = qtorch::testing::gradcheck(
      [&](const std::vector<Tensor>& in) { return qmatmul(in[0], in[1], wide); }, {randn({3, 5}), randn({5, 2})});
  EXPECT_TRUE(result) << result.message;
}

TEST(Qmatmul, NarrowBackwardIsItsOwnMacChain) {
  manual_seed(9);
  Tensor a = randn({4, 6}), b = randn({6, 3});
  a.requires_grad_(true);
  b.requires_grad_(true);
  const MacOptions fwd = parse_mac("acc=fp16"), bwd = parse_mac("acc=float:5:2,kahan");
  Tensor y = qmatmul(a, b, fwd, bwd);
  EXPECT_TRUE(qtorch::testing::expect_bitwise_equal(y.to_vector(), qmatmul_forward(a.detach(), b.detach(), fwd).to_vector()));
  const Tensor g = randn({4, 3});
  y.backward(g);
  const Tensor da = qmatmul_forward(g, b.detach().transpose(0, 1), bwd);
  const Tensor db = qmatmul_forward(a.detach().transpose(0, 1), g, bwd);
  EXPECT_TRUE(qtorch::testing::expect_bitwise_equal(a.grad().to_vector(), da.to_vector()));
  EXPECT_TRUE(qtorch::testing::expect_bitwise_equal(b.grad().to_vector(), db.to_vector()));
}

}  // namespace
}  // namespace qtorch::quant::test
