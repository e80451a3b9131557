// A floating-point bias far outside float32's exponents is rejected by its range, before
// any exponent arithmetic (1 - bias overflowed int for bias = INT_MIN: undefined behaviour).
#include <gtest/gtest.h>

#include <climits>
#include <string>

#include "qtorch/core/error.h"
#include "qtorch/quant/number.h"

namespace qtorch {
namespace {

std::string validation_error(const FloatingPoint& f) {
  try {
    f.validate();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(FloatBiasRange, ExtremeBiasesNameTheRange) {
  for (int bias : {INT_MIN, INT_MIN + 1, -127, 128, INT_MAX}) {
    std::string message = validation_error(FloatingPoint{.exp = 5, .man = 2, .bias = bias});
    EXPECT_NE(message.find("-126 <= bias <= 127"), std::string::npos) << bias << ": " << message;
    EXPECT_NE(message.find("bias=" + std::to_string(bias)), std::string::npos) << message;
  }
}

TEST(FloatBiasRange, TextFormRejectsIntMinBias) {
  try {
    parse_number("float:5:2:bias=-2147483648");
    ADD_FAILURE() << "accepted bias=-2147483648";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("-126 <= bias <= 127"), std::string::npos) << e.what();
  }
}

TEST(FloatBiasRange, EndsOfTheRangeStillValidWhereTheFormatFits) {
  EXPECT_NO_THROW((FloatingPoint{.exp = 8, .man = 2, .bias = 127}.validate()));
  EXPECT_NO_THROW((FloatingPoint{.exp = 2, .man = 2, .range = FloatRange::IEEE, .bias = -126}.validate()));
}

}  // namespace
}  // namespace qtorch
