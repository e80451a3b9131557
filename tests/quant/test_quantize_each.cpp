// quant::quantize_each_in_place: a list quantized in place gives what quantize_into(x, x)
// on each tensor in list order gives: the same bits (stochastic rounding included), the same
// generator offsets, the same counts, and non-contiguous tensors written back. The GPU's
// one-launch form is checked against this CPU form in tests/cuda/quantize_parity_test.cpp.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/quant/stats_counter.h"

namespace qtorch::quant::test {
namespace {

/// A list of every kind of tensor the list form must take: rows, a bias, a transposed
/// (non-contiguous) matrix, an empty tensor, one element, and values that clamp and flush.
std::vector<Tensor> mixed_list(uint32_t seed) {
  std::vector<Tensor> xs;
  const Shape shapes[] = {{5, 300}, {6, 1, 5, 5}, {256}, {3, 50, 7}, {0}, {1}};
  uint32_t state = seed;
  auto next = [&state] {
    state = state * 1664525u + 1013904223u;
    return (static_cast<float>(state >> 8) / 16777216.0f - 0.5f) * 8.0f;
  };
  for (const Shape& shape : shapes) {
    std::vector<float> v(static_cast<size_t>(numel_of(shape)));
    for (float& e : v) e = next();
    if (v.size() > 10) v[3] = 1e30f, v[7] = 1e-30f;
    xs.push_back(Tensor::from_vector(v, shape));
  }
  std::vector<float> m(40 * 30);
  for (float& e : m) e = next();
  xs.push_back(Tensor::from_vector(m, {40, 30}).transpose(0, 1));
  return xs;
}

std::vector<Tensor> clones(const std::vector<Tensor>& xs) {
  std::vector<Tensor> out;
  for (const Tensor& x : xs) {
    Tensor c = x.clone();
    out.push_back(x.is_contiguous() ? c : c.transpose(0, 1).contiguous().transpose(0, 1));
  }
  return out;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  // memcmp must not see the null data of an empty vector.
  return a.shape() == b.shape() && (va.empty() || std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0);
}

TEST(QuantizeEach, GivesTheBitsOffsetsAndCountsOfCallsOneByOne) {
  const std::vector<Number> formats = {FixedPoint{.wl = 8, .fl = 4}, FloatingPoint{.exp = 5, .man = 2},
                                       BlockFloatingPoint{.wl = 8, .dim = 0}, BlockFloatingPoint{.wl = 6, .dim = -1},
                                       MXFormat{}, NVFP4Format{}};
  for (const Number& number : formats)
    for (Rounding r : {Rounding::Stochastic, Rounding::Nearest}) {
      const std::string label = to_string(number) + " " + rounding_name(r);
      const std::vector<Tensor> xs = mixed_list(7);
      std::vector<Tensor> one = clones(xs), each = clones(xs);
      ASSERT_FALSE(each.back().is_contiguous());
      Generator g1(31), g2(31);
      g1.set_state(31, 1000);
      g2.set_state(31, 1000);
      StatsCounter c1, c2;
      QuantStats sum;
      for (Tensor& x : one) {
        QuantStats s;
        if (x.is_contiguous())
          quantize_into(x, x, number, r, {.generator = &g1, .stats = &s, .counter = &c1});
        else
          x.copy_(quantize(x, number, r, {.generator = &g1, .stats = &s, .counter = &c1}));
        sum += s;
      }
      QuantStats total;
      quantize_each_in_place(each, number, r, {.generator = &g2, .stats = &total, .counter = &c2});
      for (size_t i = 0; i < xs.size(); ++i) EXPECT_TRUE(same_bits(one[i], each[i])) << label << " tensor " << i;
      EXPECT_EQ(g1.offset(), g2.offset()) << label;
      EXPECT_EQ(sum, total) << label;
      EXPECT_EQ(c1.read(), c2.read()) << label;
      EXPECT_GT(total.clamped + total.flushed, 0) << label << ": the list should clamp or flush something";
    }
}

TEST(QuantizeEach, WritesNonContiguousTensorsBack) {
  // fixed <4, 2>, nearest: grid 0.25, range [-2, 1.75]. The transposed view is written
  // through to its storage.
  Tensor base = Tensor::from_vector({0.3f, 5.0f, -0.6f, 0.1f}, {2, 2});
  Tensor t = base.transpose(0, 1);
  quantize_each_in_place({t, Tensor::from_vector({1.0f}, {1})}, FixedPoint{.wl = 4, .fl = 2}, Rounding::Nearest);
  EXPECT_EQ(base.to_vector(), (std::vector<float>{0.25f, 1.75f, -0.5f, 0.0f}));
}

TEST(QuantizeEach, RejectsAMaskAndUndefinedTensors) {
  Tensor mask;
  Tensor x = Tensor::from_vector({1.0f}, {1});
  try {
    quantize_each_in_place({x}, FixedPoint{.wl = 8, .fl = 4}, Rounding::Nearest, {.mask = &mask});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected no mask"), std::string::npos) << e.what();
  }
  try {
    quantize_each_in_place({x, Tensor()}, FixedPoint{.wl = 8, .fl = 4});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("undefined one at 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(quantize_each_in_place({x}, FixedPoint{.wl = 0, .fl = 4}), Error);
  // dim 1 fits the matrix but not the vector after it: nothing is written.
  Tensor m = Tensor::from_vector({0.3f, 0.7f}, {1, 2});
  EXPECT_THROW(quantize_each_in_place({m, x}, BlockFloatingPoint{.wl = 2, .dim = 1}, Rounding::Nearest), Error);
  EXPECT_EQ(m.to_vector(), (std::vector<float>{0.3f, 0.7f})) << "a rejected call must not touch the list";
  EXPECT_EQ(x.item(), 1.0f);
}

TEST(QuantizeInto, AnOutOverlappingTheInputInAnotherLayoutGivesTheInputsQuantization) {
  // out a shifted slice of x's memory was written before x was read (every format).
  manual_seed(11);
  const Tensor x = randn({1040});
  for (const Number& number : {Number(FixedPoint{8, 4}), Number(formats::bf16()), Number(BlockFloatingPoint{6, -1}),
                               Number(formats::mxfp4()), Number(formats::nvfp4())}) {
    for (int64_t shift : {1, 5, 17, 40}) {
      for (int direction : {1, -1}) {
        Tensor b = x.clone();
        const Tensor in = direction > 0 ? b.slice(0, 0, 1000) : b.slice(0, shift, 1000 + shift);
        const Tensor out = direction > 0 ? b.slice(0, shift, 1000 + shift) : b.slice(0, 0, 1000);
        const Tensor want = quantize(in.clone(), number, Rounding::Nearest);
        quantize_into(in, out, number, Rounding::Nearest);
        EXPECT_EQ(out.to_vector(), want.to_vector()) << to_string(number) << " shift " << shift;
      }
    }
  }
}

}  // namespace
}  // namespace qtorch::quant::test
