// Where an op passes no gradient (clamp outside its range, the losing side of maximum and
// minimum, pow's constant points), the gradient is +0 whatever the incoming one or the
// formula would give there (negative, inf, NaN), as PyTorch's where(..., grad, 0) and
// masked_fill(..., 0) give; and division's gradient formed without spurious overflow.
// Expected values by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "qtorch/qtorch.h"
#include "qtorch/testing/bits.h"

using namespace qtorch;
using qtorch::testing::bits_of;

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

Tensor leaf(const std::vector<float>& v) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}).requires_grad_();
}

/// got equals want bit for bit (the sign of zero and NaN included), element by element.
void expect_bits(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << what << " element " << i << ": got " << got[i];
    } else {
      EXPECT_EQ(bits_of(got[i]), bits_of(want[i])) << what << " element " << i << ": got " << got[i] << ", want "
                                                   << want[i];
    }
  }
}
}  // namespace

TEST(ZeroedGradient, ClampGivesPositiveZeroOutsideItsRange) {
  // x below, inside, above the range, at both ends (inside, as PyTorch), and NaN (outside).
  Tensor x = leaf({-2.0f, 0.25f, 3.0f, -1.0f, 1.0f, kNaN, -5.0f});
  clamp(x, -1.0f, 1.0f).backward(Tensor::from_vector({-1.5f, -0.5f, kInf, 2.0f, -kInf, 4.0f, kNaN}, {7}));
  expect_bits(x.grad().to_vector(), {0.0f, -0.5f, 0.0f, 2.0f, -kInf, 0.0f, 0.0f}, "clamp");
}

TEST(ZeroedGradient, MaximumAndMinimumGivePositiveZeroToTheLoserAndHalvesOnTies) {
  const std::vector<float> av = {1.0f, 5.0f, 2.0f, kNaN, 3.0f};
  const std::vector<float> bv = {4.0f, 2.0f, 2.0f, 1.0f, 7.0f};
  const Tensor g = Tensor::from_vector({-3.0f, kInf, -1.0f, 6.0f, kNaN}, {5});
  {
    Tensor a = leaf(av), b = leaf(bv);
    maximum(a, b).backward(g);
    // a loses at 0 and 4, b at 1; a tie at 2; a NaN (neither wins nor ties) passes g to both.
    expect_bits(a.grad().to_vector(), {0.0f, kInf, -0.5f, 6.0f, 0.0f}, "maximum, a");
    expect_bits(b.grad().to_vector(), {-3.0f, 0.0f, -0.5f, 6.0f, kNaN}, "maximum, b");
  }
  {
    Tensor a = leaf(av), b = leaf(bv);
    minimum(a, b).backward(g);
    expect_bits(a.grad().to_vector(), {-3.0f, 0.0f, -0.5f, 6.0f, kNaN}, "minimum, a");
    expect_bits(b.grad().to_vector(), {0.0f, kInf, -0.5f, 6.0f, 0.0f}, "minimum, b");
  }
}

TEST(ZeroedGradient, PowWithATensorExponentAtZeroBase) {
  // d(x^e)/dx = e x^(e-1), 0 where e = 0 (0 * 0^-1 would be NaN); d(x^e)/de = x^e log x, 0
  // where x = 0 and e >= 0 (0 * -inf would be NaN, 1 * -inf at e = 0 -inf).
  Tensor x = leaf({0.0f, 0.0f, 0.0f, 0.0f, 2.0f}), e = leaf({0.0f, 1.0f, 2.0f, 0.5f, 3.0f});
  pow(x, e).backward(Tensor::from_vector({1, 1, 1, 1, 1}, {5}));
  expect_bits(x.grad().to_vector(), {0.0f, 1.0f, 0.0f, kInf, 12.0f}, "pow, x");
  const std::vector<float> ge = e.grad().to_vector();
  expect_bits({ge[0], ge[1], ge[2], ge[3]}, {0.0f, 0.0f, 0.0f, 0.0f}, "pow, e");
  EXPECT_NEAR(ge[4], 8.0 * std::log(2.0), 1e-5);  // 2^3 ln 2
}

TEST(ZeroedGradient, DivisionGradientWithoutSpuriousOverflow) {
  // d(a / b)/db = -g (a / b) / b: with a = b = 1e-30 that is -1e30, where -(g a) / (b b)
  // divided by an underflowed b b (-inf); with a = b = 1e20, -1e-20 where b b overflowed (-0).
  Tensor a = leaf({1e-30f, 1e20f}), b = leaf({1e-30f, 1e20f});
  div(a, b).backward(Tensor::from_vector({1, 1}, {2}));
  const std::vector<float> gb = b.grad().to_vector();
  EXPECT_FLOAT_EQ(gb[0], -1e30f);
  EXPECT_FLOAT_EQ(gb[1], -1e-20f);
  EXPECT_FLOAT_EQ(a.grad().to_vector()[0], 1e30f);
}
