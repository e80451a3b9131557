// Formats as values: printing, the text form round trip, rounding names, and every bad
// argument refused with a message naming what was expected.
#include <sstream>

#include "qtorch/core/error.h"
#include "qtorch/core/tensor.h"
#include "qtorch/quant/mac.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/quant/quantizer.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

/// Runs f, expecting a qtorch::Error whose message contains every part.
template <class F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected qtorch::Error";
  } catch (const Error& e) {
    for (const std::string& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
  }
}

TEST(Formats, Printing) {
  EXPECT_EQ(to_string(FixedPoint{.wl = 5, .fl = 4}), "FixedPoint(wl=5, fl=4)");
  EXPECT_EQ(to_string(FixedPoint{.wl = 8, .fl = 6, .clamp = false, .symmetric = true}),
            "FixedPoint(wl=8, fl=6, clamp=false, symmetric=true)");
  EXPECT_EQ(to_string(FloatingPoint{.exp = 5, .man = 2}), "FloatingPoint(exp=5, man=2)");
  EXPECT_EQ(to_string(BlockFloatingPoint{.wl = 8, .dim = 0}), "BlockFloatingPoint(wl=8, dim=0)");
  std::ostringstream os;
  os << Number(FixedPoint{.wl = 5, .fl = 4});
  EXPECT_EQ(os.str(), "FixedPoint(wl=5, fl=4)");
}

TEST(Formats, TextRoundTrip) {
  for (const char* text :
       {"fixed:8:6", "fixed:8:6:noclamp:symmetric", "fixed:8:6:symmetric", "float:5:2", "block:8:0",
        "block:8:-1", "fp16", "bf16", "tf32", "e4m3", "e5m2", "hfp8", "fp32",
        "float:5:10:ieee:nosub", "e4m3_sat", "e5m2_sat", "float:4:3:bias=9"}) {
    EXPECT_EQ(number_text(parse_number(text)), text);
  }
  EXPECT_FALSE(parse_number("fp32").has_value());
  EXPECT_EQ(parse_number("float:4:3:fn"), std::optional<Number>(formats::fp8_e4m3_sat()));
  EXPECT_EQ(parse_number("float:5:2:ieee"), std::optional<Number>(formats::fp8_e5m2_sat()));
  EXPECT_EQ(parse_number(" FP16 "), std::optional<Number>(formats::fp16()));
  EXPECT_EQ(parse_number("float:5:10:ieee:nosat"), std::optional<Number>(formats::fp16()));
  EXPECT_EQ(parse_number("fixed:8:6:noclamp"),
            std::optional<Number>(FixedPoint{.wl = 8, .fl = 6, .clamp = false}));
  EXPECT_EQ(parse_number("block:8"), std::optional<Number>(BlockFloatingPoint{.wl = 8, .dim = -1}));
}

TEST(Formats, RoundingNames) {
  for (Rounding r : {Rounding::Stochastic, Rounding::Nearest, Rounding::NearestEven,
                     Rounding::TowardZero, Rounding::Up, Rounding::Down})
    EXPECT_EQ(parse_rounding(to_string(r)), r);
  EXPECT_EQ(parse_rounding("Nearest-Even"), Rounding::NearestEven);
  expect_error(
      [] { parse_rounding("nearst"); },
      {"parse_rounding", "stochastic, nearest, nearest_even, toward_zero, up, down", "'nearst'"});
}

// A Rounding cast from an integer out of range (a config read as a number) is refused where
// it is used, rather than rounding as some other mode.
TEST(Formats, RoundingOutOfRangeIsRefused) {
  const Rounding bad = static_cast<Rounding>(42);
  const Tensor x = Tensor::from_vector({0.3f, -1.7f}, {2});
  expect_error([&] { quantize(x, FixedPoint{8, 4}, bad); }, {"quantize: rounding", "stochastic, nearest", "42"});
  expect_error([&] { quant::QuantizerOptions o; o.forward_number = FixedPoint{8, 4}; o.backward_rounding = bad;
                     quant::quantizer(o); },
               {"quantizer: backward_rounding", "42"});
  expect_error([&] { quant::MacOptions o; o.accumulate = FloatingPoint{5, 10}; o.multiply_rounding = bad; o.validate(); },
               {"MacOptions: multiply_rounding", "42"});
  EXPECT_EQ(rounding_name(bad), std::string("unknown"));
}

TEST(Formats, BadText) {
  for (const char* text : {"fixed:8", "fixed:a:6", "fixed:8:6:wrap", "float:5", "block", "fp64", "",
                           "float:5:2:bias=x", "fixed:8:6:1:2:3"})
    expect_error([&] { parse_number(text); },
                 {"parse_number", "fixed:WL:FL", "block:WL[:DIM]", "fp16"});
  // well-formed text with out-of-range values gives the format's own message
  expect_error([] { parse_number("float:9:2"); }, {"FloatingPoint", "2 <= exp <= 8", "exp=9"});
  // an option given twice (or both ranges) would silently let the last one win
  expect_error([] { parse_number("float:5:2:ieee:fn"); }, {"float option 'ieee|fn' given twice", "float:5:2:ieee:fn"});
  expect_error([] { parse_number("float:5:2:bias=3:bias=4"); }, {"float option 'bias' given twice"});
  expect_error([] { parse_number("float:5:2:nosub:nosub"); }, {"float option 'nosub' given twice"});
  expect_error([] { parse_number("fixed:8:4:noclamp:noclamp"); }, {"fixed option 'noclamp' given twice"});
}

TEST(Formats, BadArguments) {
  Tensor x = T({1.0f, 2.0f});
  expect_error([&] { fixed_point_quantize(x, 0, 0); }, {"FixedPoint", "wl >= 1", "wl=0"});
  expect_error([&] { fixed_point_quantize(x, 8, 150); }, {"FixedPoint", "fl <= 149", "fl=150"});
  expect_error([&] { fixed_point_quantize(x, 8, -128); }, {"FixedPoint", "-127 <= fl", "fl=-128"});
  expect_error([&] { fixed_point_quantize(x, 200, 0); }, {"FixedPoint", "wl - fl - 1 <= 127"});
  // wl - fl - 1 wrapped around in int for wl near INT_MAX, and the format was accepted (and
  // left FLT_MAX and inf unclamped).
  expect_error([&] { fixed_point_quantize(x, 2147483647, -1); }, {"wl - fl - 1 <= 127", "wl=2147483647, fl=-1"});
  expect_error([] { parse_number("fixed:2147483647:-1"); }, {"wl - fl - 1 <= 127"});
  expect_error([&] { float_quantize(x, 1, 2); }, {"FloatingPoint", "2 <= exp <= 8", "exp=1"});
  expect_error([&] { float_quantize(x, 9, 2); }, {"exp=9"});
  expect_error([&] { float_quantize(x, 5, -1); }, {"0 <= man <= 23", "man=-1"});
  expect_error([&] { float_quantize(x, 5, 24); }, {"man=24"});
  expect_error([&] { quantize(x, FloatingPoint{.exp = 8, .man = 3, .bias = 130}); }, {"bias"});
  expect_error(
      [&] { quantize(x, FloatingPoint{.exp = 4, .man = 0, .range = FloatRange::FiniteNaN}); },
      {"man >= 1"});
  expect_error([&] { block_quantize(x, 1); }, {"BlockFloatingPoint", "2 <= wl <= 24", "wl=1"});
  expect_error([&] { block_quantize(x, 25); }, {"wl=25"});
  expect_error([&] { block_quantize(x, 8, 1); }, {"block_quantize", "dim < x.dim() = 1", "dim=1"});
  expect_error([&] { block_quantize(x, 8, -2); }, {"dim >= -1", "dim=-2"});
  expect_error([&] { FixedPoint{.wl = -3, .fl = 0}.checked(); }, {"wl=-3"});
}

}  // namespace
}  // namespace qtorch::quant::test
