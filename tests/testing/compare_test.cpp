// testing::compare and the GoogleTest matchers: equal tensors pass, a one-ulp difference is
// reported with its bits, and the sign-of-zero and NaN-payload options do what they say.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "qtorch/core/error.h"
#include "qtorch/testing.h"
#include "qtorch/testing/gtest.h"

namespace qtorch::testing {
namespace {

Tensor T(const std::vector<float>& v) { return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}); }

TEST(TestingCompare, OneUlpDifferenceIsReportedWithItsBits) {
  const float up = std::nextafter(1.5f, 2.0f);  // 1.5 is 0x3fc00000; one ulp above is 0x3fc00001
  const CompareResult r = expect_bitwise_equal(T({1.0f, up, 2.0f}), T({1.0f, 1.5f, 2.0f}));
  EXPECT_FALSE(r);
  EXPECT_EQ(r.differing, 1);
  EXPECT_EQ(r.first_index, 1);
  EXPECT_EQ(r.first_actual, up);
  EXPECT_EQ(r.first_expected, 1.5f);
  EXPECT_NE(r.message.find("0x3fc00001"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("0x3fc00000"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("1 of 3 elements differ"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("[1]"), std::string::npos) << r.message;
}

TEST(TestingCompare, CountsEveryDifferenceAndReportsTheFirst) {
  const CompareResult r = compare(std::vector<float>{0, 1, 2, 3, 4}, std::vector<float>{0, 1, 5, 3, 6});
  EXPECT_EQ(r.differing, 2);
  EXPECT_EQ(r.first_index, 2);
  EXPECT_NE(r.message.find("[4]: actual 4 (0x40800000), expected 6 (0x40c00000)"), std::string::npos) << r.message;
  EXPECT_TRUE(compare(std::vector<float>{0, 1}, std::vector<float>{0, 1}));
  EXPECT_TRUE(compare(std::vector<float>{0, 1}, std::vector<float>{0, 1}).message.empty());
}

TEST(TestingCompare, SignOfZeroIsAnOption) {
  EXPECT_FALSE(expect_bitwise_equal(T({-0.0f}), T({0.0f})));
  EXPECT_NE(expect_bitwise_equal(T({-0.0f}), T({0.0f})).message.find("0x80000000"), std::string::npos);
  EXPECT_TRUE(compare(T({-0.0f}), T({0.0f}), {.signed_zero = false}));
  EXPECT_TRUE(expect_equal_values({-0.0f}, {0.0f}));
  // With a tolerance the sign of zero cannot matter: 1e-30 would be within it of +0.
  EXPECT_TRUE(compare(T({-0.0f, 1e-30f}), T({0.0f, 0.0f}), {.atol = 1e-6}));
  EXPECT_TRUE(compare(T({-0.0f}), T({0.0f}), {.rtol = 1e-3}));
}

TEST(TestingCompare, NanPayloadIsAnOption) {
  const float nan = float_of(0x7fc00000u), other_nan = float_of(0xffc00001u);
  EXPECT_TRUE(std::isnan(other_nan));
  EXPECT_TRUE(expect_bitwise_equal(T({nan}), T({other_nan})));
  EXPECT_FALSE(expect_bitwise_equal(T({nan}), T({other_nan}), NanEquality::Bitwise));
  EXPECT_TRUE(expect_bitwise_equal(T({nan}), T({nan}), NanEquality::Bitwise));
  EXPECT_FALSE(expect_bitwise_equal(T({nan}), T({1.0f})));
  EXPECT_FALSE(expect_equal_values({1.0f}, {nan}));
}

TEST(TestingCompare, ToleranceAndShapes) {
  EXPECT_TRUE(compare(T({1.0f, 2.0f}), T({1.05f, 2.0f}), {.atol = 0.1}));
  EXPECT_FALSE(compare(T({1.0f, 2.0f}), T({1.2f, 2.0f}), {.atol = 0.1}));
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(compare(T({inf}), T({-inf}), {.atol = 1e30}));
  const CompareResult r = compare(T({1, 2, 3, 4}), Tensor::from_vector({1, 2, 3, 4}, {2, 2}));
  EXPECT_FALSE(r);
  EXPECT_NE(r.message.find("shape mismatch"), std::string::npos) << r.message;
}

TEST(TestingCompare, AssertThrowsWithTheMessage) {
  EXPECT_NO_THROW(assert_bitwise_equal(T({1, 2}), T({1, 2})));
  try {
    assert_bitwise_equal(T({1.0f, 2.0f}), T({1.0f, std::nextafter(2.0f, 0.0f)}));
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("0x3fffffff"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("assert_bitwise_equal"), std::string::npos) << e.what();
  }
}

TEST(TestingCompare, BitsRoundTrip) {
  EXPECT_EQ(bits_of(1.0f), 0x3f800000u);
  EXPECT_EQ(bits_of(-2.0f), 0xc0000000u);
  EXPECT_EQ(float_of(0x3f800000u), 1.0f);
  EXPECT_EQ(describe_float(1.5f), "1.5 (0x3fc00000)");
}

TEST(TestingMatchers, MatchAndExplain) {
  using ::testing::Not;
  EXPECT_THAT(T({1, 2, -0.0f}), TensorBitwiseEq(T({1, 2, -0.0f})));
  EXPECT_THAT(T({1, 2, -0.0f}), Not(TensorBitwiseEq(T({1, 2, 0.0f}))));
  EXPECT_THAT(T({1, 2, -0.0f}), TensorEq(T({1, 2, 0.0f})));
  EXPECT_THAT(T({1, 2}), Not(TensorEq(T({1, 3}))));
  EXPECT_THAT(T({1, 2}), TensorNear(T({1.01f, 1.99f}), 0.02f));
  EXPECT_THAT(T({1, 2}), Not(TensorNear(T({1.01f, 1.9f}), 0.02f)));
  ::testing::StringMatchResultListener listener;
  EXPECT_FALSE(::testing::ExplainMatchResult(TensorBitwiseEq(T({1.0f})), T({std::nextafter(1.0f, 2.0f)}), &listener));
  EXPECT_NE(listener.str().find("0x3f800001"), std::string::npos) << listener.str();
}

}  // namespace
}  // namespace qtorch::testing
