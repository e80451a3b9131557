// Where an op passes no gradient (clamp outside its range, the losing side of maximum and
// minimum), the gradient is +0 whatever the incoming one holds there (negative, inf, NaN),
// as PyTorch's where(..., grad, 0) and masked_fill(..., 0) give; expected values by hand.
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
