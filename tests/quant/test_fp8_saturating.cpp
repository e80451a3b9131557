// The saturating fp8 variants: overflow gives the largest finite value (OCP's saturating
// conversion) where the plain OCP formats give NaN (E4M3) or inf (E5M2); clamping_grad_zero
// accepts them.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "qtorch/quant/number.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/core/error.h"
#include "qtorch/quant/quantizer.h"

namespace qtorch {
namespace {

TEST(Fp8Saturating, OverflowGivesTheLargestFiniteValue) {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = Tensor::from_vector({1000.0f, -1000.0f, 448.0f, 1.0f}, {4});
  EXPECT_EQ(quant::quantize(x, formats::fp8_e4m3_sat(), Rounding::NearestEven).to_vector(),
            (std::vector<float>{448, -448, 448, 1}));
  std::vector<float> plain = quant::quantize(x, formats::fp8_e4m3(), Rounding::NearestEven).to_vector();
  EXPECT_TRUE(std::isnan(plain[0]) && std::isnan(plain[1]));
  Tensor y = Tensor::from_vector({1e6f, -1e6f, inf, 3.0f}, {4});
  std::vector<float> sat = quant::quantize(y, formats::fp8_e5m2_sat(), Rounding::NearestEven).to_vector();
  EXPECT_EQ(sat[0], 57344.0f);
  EXPECT_EQ(sat[1], -57344.0f);
  EXPECT_EQ(sat[2], inf);  // an inf input stays inf in the IEEE range
  EXPECT_EQ(sat[3], 3.0f);
  EXPECT_EQ(quant::quantize(y, formats::fp8_e5m2(), Rounding::NearestEven).to_vector()[0], inf);
}

TEST(Fp8Saturating, ClampingGradZeroAcceptsThem) {
  EXPECT_NO_THROW(quant::quantizer({.forward_number = formats::fp8_e4m3_sat(), .clamping_grad_zero = true}));
  EXPECT_THROW(quant::quantizer({.forward_number = formats::fp8_e4m3(), .clamping_grad_zero = true}), Error);
  Tensor x = Tensor::from_vector({1000.0f, 2.0f}, {2}).requires_grad_();
  quant::QuantizerFn q = quant::quantizer(
      {.forward_number = formats::fp8_e4m3_sat(), .forward_rounding = Rounding::Nearest, .clamping_grad_zero = true});
  q(x).backward(Tensor::from_vector({1.0f, 1.0f}, {2}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0.0f, 1.0f}));
}

}  // namespace
}  // namespace qtorch
