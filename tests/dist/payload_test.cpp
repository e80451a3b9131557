// The gradient payload: codes checked by hand against the formats' bit layouts (OCP FP8
// and FP4 encodings, two's complement fixed point), exact round trips of quantized
// tensors for every packable format and rounding, sizes by formula, exceptions for values
// a code cannot hold, and clear errors for truncated messages and NVFP4.
#include "qtorch/dist/payload.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/quant/quantize.h"

namespace qtorch::dist {
namespace {

std::vector<uint8_t> encode(const std::vector<float>& values, const Shape& shape, const Number& number) {
  std::vector<uint8_t> out;
  encode_payload(Tensor::from_vector(values, shape), number, out);
  return out;
}

std::vector<float> decode(const std::vector<uint8_t>& bytes, const Shape& shape, const Number& number) {
  std::vector<float> out(static_cast<size_t>(numel_of(shape)));
  size_t offset = 0;
  decode_payload(bytes.data(), bytes.size(), offset, number, shape, out.data());
  EXPECT_EQ(offset, bytes.size());
  return out;
}

uint32_t exceptions_of(const std::vector<uint8_t>& bytes) {
  uint32_t n = 0;
  std::memcpy(&n, bytes.data(), sizeof n);
  return n;
}

TEST(Payload, FixedPointCodesAreTwosComplementByHand) {
  // fixed:8:6: 0.5 = 32/64, -0.25 = -16/64, 1.984375 = 127/64, -2 = -128/64.
  const auto bytes = encode({0.5f, -0.25f, 1.984375f, -2.0f}, {4}, FixedPoint{.wl = 8, .fl = 6});
  EXPECT_EQ(bytes, (std::vector<uint8_t>{0, 0, 0, 0, 0x20, 0xF0, 0x7F, 0x80}));
  // fixed:4:2, packed two per byte from the low bits: 0.75 = 3 -> 0x3, -1 = -4 -> 0xC.
  const auto packed = encode({0.75f, -1.0f, 0.25f}, {3}, FixedPoint{.wl = 4, .fl = 2});
  EXPECT_EQ(packed, (std::vector<uint8_t>{0, 0, 0, 0, 0xC3, 0x01}));
}

TEST(Payload, FloatCodesAreTheOcpBitPatterns) {
  // E4M3 (bias 7): 1.0 = 0x38, 448 = 0x7E, -2^-9 (smallest subnormal) = 0x81, 0.
  const Number e4m3 = formats::fp8_e4m3();
  EXPECT_EQ(encode({1.0f, 448.0f, -std::ldexp(1.0f, -9), 0.0f}, {4}, e4m3),
            (std::vector<uint8_t>{0, 0, 0, 0, 0x38, 0x7E, 0x81, 0x00}));
  // E5M2: 1.0 = 0x3C, -57344 = 0xFB.
  EXPECT_EQ(encode({1.0f, -57344.0f}, {2}, formats::fp8_e5m2()), (std::vector<uint8_t>{0, 0, 0, 0, 0x3C, 0xFB}));
  // -0 keeps its sign in a float code.
  const auto z = decode(encode({-0.0f}, {1}, e4m3), {1}, e4m3);
  EXPECT_TRUE(std::signbit(z[0]));
}

TEST(Payload, BlockFloatingPointSendsTheQuantumExponentAndIntegers) {
  // block:8 over [1.5, -0.75, 0]: E = 0, quantum 2^(0 + 2 - 8) = 2^-6, codes 96, -48, 0.
  const auto bytes = encode({1.5f, -0.75f, 0.0f}, {3}, BlockFloatingPoint{.wl = 8, .dim = -1});
  EXPECT_EQ(bytes, (std::vector<uint8_t>{0, 0, 0, 0, 0xFA, 0xFF, 0x60, 0xD0, 0x00}));  // int16 -6
}

TEST(Payload, MxSendsE8M0ScalesAndElementCodes) {
  // mxfp4 (E2M1, emax 2), one block of 3 along the last axis: max 12 -> X = 2^(3 - 2) = 2,
  // elements 6 (0b0111), -1 (0b1010) and the subnormal 0.5 (0b0001).
  const Number mx = MXFormat{.element = MXElement::E2M1, .block = 32, .axis = -1};
  const auto bytes = encode({12.0f, -2.0f, 1.0f}, {3}, mx);
  // 0 exceptions; scale 1 + 127 = 128; codes packed from the low bits: 0xA7, 0x01.
  EXPECT_EQ(bytes, (std::vector<uint8_t>{0, 0, 0, 0, 128, 0xA7, 0x01}));
}

// Random tensors across many binades (and zeros), quantized by the library in every rounding.
Tensor wide_values(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exp(-30, 8);
  std::vector<float> v(static_cast<size_t>(numel_of(shape)));
  for (float& x : v) x = rng() % 13 == 0 ? 0.0f : std::ldexp(mant(rng), exp(rng));
  return Tensor::from_vector(v, shape);
}

TEST(Payload, QuantizedTensorsRoundTripExactlyInTheirFormatsSize) {
  const std::vector<Number> numbers = {
      FixedPoint{.wl = 8, .fl = 6},        FixedPoint{.wl = 4, .fl = 2},   FixedPoint{.wl = 16, .fl = 12},
      formats::fp16(),                     formats::bf16(),                formats::fp8_e4m3_sat(),
      formats::fp8_e5m2_sat(),             FloatingPoint{.exp = 3, .man = 2}, formats::hfp8_e4m3(),
      BlockFloatingPoint{.wl = 8, .dim = -1}, BlockFloatingPoint{.wl = 8, .dim = 0}, BlockFloatingPoint{.wl = 4, .dim = 1},
      BlockFloatingPoint{.wl = 24, .dim = 0}, formats::mxfp8(),            formats::mxfp8_e5m2(),
      formats::mxfp6(),                    formats::mxfp6_e3m2(),          formats::mxfp4(),
      formats::mxint8(),                   MXFormat{.element = MXElement::E4M3, .block = 5, .axis = 0}};
  const Shape shape = {7, 13};
  Generator gen(3);
  for (const Number& number : numbers) {
    for (Rounding r : {Rounding::Nearest, Rounding::Stochastic, Rounding::TowardZero}) {
      const Tensor x = wide_values(shape, 11);
      const Tensor q = quant::quantize(x, number, r, {.generator = &gen});
      std::vector<uint8_t> bytes;
      encode_payload(q, number, bytes);
      const std::vector<float> back = decode(bytes, shape, number);
      const std::vector<float> want = q.to_vector();
      for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(back[i], want[i]) << to_string(number) << " element " << i;
      // No exceptions: exactly the format's size.
      EXPECT_EQ(exceptions_of(bytes), 0u) << to_string(number);
      EXPECT_EQ(bytes.size(), payload_size(number, shape)) << to_string(number);
    }
  }
}

TEST(Payload, SizesFollowTheFormula) {
  // 4 + ceil(n * bits / 8) + blocks * scale bytes.
  EXPECT_EQ(payload_size(BlockFloatingPoint{.wl = 8, .dim = 0}, {256, 784}), 4u + 256u * 784u + 256u * 2u);
  EXPECT_EQ(payload_size(BlockFloatingPoint{.wl = 8, .dim = -1}, {10}), 4u + 10u + 2u);
  EXPECT_EQ(payload_size(formats::mxfp4(), {10, 70}), 4u + 350u + 10u * 3u);  // 3 blocks (32, 32, 6) per row
  EXPECT_EQ(payload_size(formats::fp8_e4m3(), {3}), 4u + 3u);
  EXPECT_EQ(payload_size(FloatingPoint{.exp = 3, .man = 2}, {5}), 4u + 4u);  // 6 bits each: 30 bits
  EXPECT_EQ(payload_size(FixedPoint{.wl = 4, .fl = 2}, {3}), 4u + 2u);
}

TEST(Payload, ValuesNoCodeHoldsTravelAsExceptions) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  // Fixed point without clamping holds 100 (beyond 8 bits); inf and NaN have no code anywhere.
  const Number fixed = FixedPoint{.wl = 8, .fl = 0, .clamp = false};
  const auto bytes = encode({1.0f, 100000.0f, inf, nan}, {4}, fixed);
  EXPECT_EQ(exceptions_of(bytes), 3u);
  EXPECT_EQ(bytes.size(), payload_size(fixed, {4}) + 3u * 8u);
  const auto back = decode(bytes, {4}, fixed);
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], 100000.0f);
  EXPECT_EQ(back[2], inf);
  EXPECT_TRUE(std::isnan(back[3]));
  const Number block = BlockFloatingPoint{.wl = 8, .dim = -1};
  const auto b2 = decode(encode({nan, nan}, {2}, block), {2}, block);
  EXPECT_TRUE(std::isnan(b2[0]) && std::isnan(b2[1]));
}

TEST(Payload, TruncatedOrCorruptMessagesAreRejected) {
  const Number number = formats::fp8_e4m3();
  auto bytes = encode({1.0f, 2.0f, 3.0f}, {3}, number);
  std::vector<float> out(3);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    size_t offset = 0;
    EXPECT_THROW(decode_payload(bytes.data(), cut, offset, number, {3}, out.data()), Error) << cut;
  }
  // One exception whose index is out of range.
  std::vector<uint8_t> bad = {1, 0, 0, 0, 0x38, 0x38, 0x38, 9, 0, 0, 0, 0, 0, 0x80, 0x3F};
  size_t offset = 0;
  try {
    decode_payload(bad.data(), bad.size(), offset, number, {3}, out.data());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exception index 9 is out of range"), std::string::npos) << e.what();
  }
}

TEST(Payload, Nvfp4CannotBeSent) {
  try {
    check_packable(formats::nvfp4(), "comm");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("comm: expected a format whose values can be sent as codes"), std::string::npos)
        << e.what();
  }
  std::vector<uint8_t> out;
  EXPECT_THROW(encode_payload(Tensor::from_vector({1.0f}, {1}), formats::nvfp4(), out), Error);
}

}  // namespace
}  // namespace qtorch::dist
