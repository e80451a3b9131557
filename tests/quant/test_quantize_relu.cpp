// A ReLU taken into the quantizer before it: quant::quantize_fused with a ReLU after and with
// ReLU's backward before (the gate), against the ops formed by hand (a loop for each rule:
// ReLU keeps x > 0 and NaN, makes everything else +0; its backward passes g where the output
// is nonzero or NaN): the same values, masks, counts and generator offsets; and a worked
// example of quant::fused_quantizer with relu.
// The GPU's one-pass forms are checked against these in tests/cuda/quantize_parity_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/quant/quantize_cuda.h"
#include "qtorch/quant/quantizer.h"
#include "tests/quant/quant_test_util.h"

namespace qtorch::quant::test {
namespace {

/// n values spread over [-spread/2, spread/2), with NaN, +-0 and +-inf among them.
std::vector<float> values(int64_t n, uint32_t seed, float spread) {
  std::vector<float> v = spread_values(n, seed, spread);
  const float special[] = {kNaN, -0.0f, 0.0f, kInf, -kInf, -kNaN};
  for (size_t i = 0; i < 6 && 7 * i + 3 < v.size(); ++i) v[7 * i + 3] = special[i];
  return v;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  return a.shape() == b.shape() && (va.empty() || std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0);
}

uint32_t bits(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

/// ReLU by hand: x where x > 0 or NaN, else +0.
Tensor relu_by_hand(const Tensor& x) {
  std::vector<float> v = x.to_vector();
  for (float& e : v) e = (e > 0.0f || std::isnan(e)) ? e : 0.0f;
  return Tensor::from_vector(v, x.shape());
}

/// ReLU's backward by hand: g where out is nonzero (NaN counts as nonzero), else +0.
Tensor gate_by_hand(const Tensor& out, const Tensor& g) {
  const std::vector<float> o = out.to_vector();
  std::vector<float> v = g.to_vector();
  for (size_t i = 0; i < v.size(); ++i)
    if (!(o[i] != 0.0f)) v[i] = 0.0f;
  return Tensor::from_vector(v, g.shape());
}

const std::vector<Number>& formats() {
  static const std::vector<Number> all = {
      FixedPoint{.wl = 6, .fl = 3},
      FloatingPoint{.exp = 4, .man = 3, .saturate = true},
      BlockFloatingPoint{.wl = 8, .dim = 0},
      BlockFloatingPoint{.wl = 8, .dim = -1},
      MXFormat{},
      NVFP4Format{},
  };
  return all;
}

struct Quantized {
  Tensor y, mask;
  QuantStats stats;
  uint64_t offset;
};

Quantized run_fused(const Tensor& x, const QuantizeFusion& fusion, const Number& f, Rounding r) {
  Generator g(11);
  Quantized q;
  q.y = quantize_fused(x, fusion, f, r, {.generator = &g, .stats = &q.stats, .mask = &q.mask});
  q.offset = g.offset();
  return q;
}

Quantized run_plain(const Tensor& x, const Number& f, Rounding r) {
  Generator g(11);
  Quantized q;
  q.y = quantize(x, f, r, {.generator = &g, .stats = &q.stats, .mask = &q.mask});
  q.offset = g.offset();
  return q;
}

TEST(QuantizeFused, ReluAfterGivesTheQuantizedValuesThroughAReluAndTheQuantizationsMaskAndCounts) {
  for (const Shape& shape : {Shape{6, 40}, Shape{3, 2, 5, 4}, Shape{37}})
    for (const Number& f : formats())
      for (Rounding r : {Rounding::Nearest, Rounding::Stochastic}) {
        const std::string label = to_string(f) + " " + rounding_name(r) + " " + shape_str(shape);
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        const Tensor x = Tensor::from_vector(values(n, 5, 12.0f), shape);
        const Quantized want = run_plain(x, f, r);
        const Quantized got = run_fused(x, {.relu = true}, f, r);
        EXPECT_TRUE(same_bits(got.y, relu_by_hand(want.y))) << label;
        EXPECT_TRUE(same_bits(got.mask, want.mask)) << label;  // the clamp of the quantization itself
        EXPECT_EQ(got.stats, want.stats) << label;               // flushed: before the ReLU
        EXPECT_EQ(got.offset, want.offset) << label;
      }
}

TEST(QuantizeFused, GateBeforeQuantizesReluBackwardsGradient) {
  for (const Number& f : formats())
    for (Rounding r : {Rounding::Nearest, Rounding::Stochastic}) {
      const std::string label = to_string(f) + " " + rounding_name(r);
      const Tensor g = Tensor::from_vector(values(8 * 24, 21, 3.0f), {8, 24});
      // The ReLU output: zeros (both signs), NaN and positive values.
      const Tensor out = relu_by_hand(Tensor::from_vector(values(8 * 24, 22, 2.0f), {8, 24}));
      const Quantized want = run_plain(gate_by_hand(out, g), f, r);
      const Quantized got = run_fused(g, {.gate = out}, f, r);
      EXPECT_TRUE(same_bits(got.y, want.y)) << label;
      EXPECT_TRUE(same_bits(got.mask, want.mask)) << label;
      EXPECT_EQ(got.stats, want.stats) << label;
      EXPECT_EQ(got.offset, want.offset) << label;
    }
}

TEST(QuantizeFused, BiasThenQuantizeThenRelu) {
  const Tensor x = Tensor::from_vector(values(4 * 3 * 5, 31, 6.0f), {4, 3, 5});
  const Tensor bias = Tensor::from_vector(values(3, 32, 2.0f), {3});
  std::vector<float> sum = x.to_vector();
  const std::vector<float> b = bias.to_vector();
  for (size_t i = 0; i < sum.size(); ++i) sum[i] += b[(i / 5) % 3];
  for (const Number& f : formats()) {
    const Quantized want = run_plain(Tensor::from_vector(sum, x.shape()), f, Rounding::Stochastic);
    const Quantized got = run_fused(x, {.bias = bias, .axis = 1, .relu = true}, f, Rounding::Stochastic);
    EXPECT_TRUE(same_bits(got.y, relu_by_hand(want.y))) << to_string(f);
    EXPECT_EQ(got.stats, want.stats) << to_string(f);
  }
}

TEST(QuantizeFused, HandWorkedValuesAndBadGates) {
  // Fixed point <8, 2>, nearest: the grid of 1/4. -0.3 -> -0.25 -> ReLU +0; 0.1 -> 0 (flushed);
  // 0.6 -> 0.5; -0 -> -0 -> +0; NaN stays NaN.
  const Tensor x = Tensor::from_vector({-0.3f, 0.1f, 0.6f, -0.0f, kNaN}, {5});
  QuantStats stats;
  const Tensor y = quantize_fused(x, {.relu = true}, FixedPoint{.wl = 8, .fl = 2}, Rounding::Nearest, {.stats = &stats});
  const std::vector<float> v = y.to_vector();
  EXPECT_EQ(bits(v[0]), 0u);
  EXPECT_EQ(bits(v[1]), 0u);
  EXPECT_EQ(v[2], 0.5f);
  EXPECT_EQ(bits(v[3]), 0u);
  EXPECT_TRUE(std::isnan(v[4]));
  EXPECT_EQ(stats.flushed, 1);  // 0.1, not -0.3 (which the quantization kept as -0.25)
  // The gate passes g where the output is nonzero or NaN: [0, 0, 0.5, 0, NaN] -> g at 2 and 4.
  const Tensor g = Tensor::from_vector({1.0f, 2.0f, 0.3f, -4.0f, -0.6f}, {5});
  const Tensor gq = quantize_fused(g, {.gate = y}, FixedPoint{.wl = 8, .fl = 2}, Rounding::Nearest);
  EXPECT_EQ(gq.to_vector(), (std::vector<float>{0.0f, 0.0f, 0.25f, 0.0f, -0.5f}));

  auto message = [&](const QuantizeFusion& fusion) {
    try {
      quantize_fused(g, fusion, FixedPoint{.wl = 8, .fl = 2});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({.gate = Tensor::from_vector({1, 2}, {2})}).find("expected a gate of x's shape [5] on cpu, got [2]"),
            std::string::npos)
      << message({.gate = Tensor::from_vector({1, 2}, {2})});
  EXPECT_NE(message({.bias = Tensor::from_vector({1, 2, 3, 4, 5}, {5}), .gate = y}).find("got both"), std::string::npos);
}

// ---- the graph node (the comparison with the ops one by one is in test_fused_quantizer.cpp) ----

Tensor leaf(const Tensor& t) {
  Tensor x = t.clone();
  x.requires_grad_(true);
  return x;
}

TEST(FusedQuantizerRelu, WorkedExample) {
  const FusedQuantizerFn q = fused_quantizer({.forward_number = FixedPoint{.wl = 8, .fl = 2},
                                              .backward_number = FixedPoint{.wl = 8, .fl = 2},
                                              .forward_rounding = Rounding::Nearest,
                                              .backward_rounding = Rounding::Nearest});
  // x = [-0.3, 0.1, 0.6, 1.4] -> the grid of 1/4: [-0.25, 0, 0.5, 1.5] -> ReLU [0, 0, 0.5, 1.5].
  // The gradient [1.1, 2.3, 0.3, -0.9] passes where the output is nonzero: [0, 0, 0.3, -0.9],
  // then to the grid of 1/4: [0, 0, 0.25, -1].
  Tensor x = leaf(Tensor::from_vector({-0.3f, 0.1f, 0.6f, 1.4f}, {4}));
  Tensor y = q(x, {.relu = true});
  EXPECT_EQ(y.to_vector(), (std::vector<float>{0.0f, 0.0f, 0.5f, 1.5f}));
  y.backward(Tensor::from_vector({1.1f, 2.3f, 0.3f, -0.9f}, {4}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0.0f, 0.0f, 0.25f, -1.0f}));
  // Without gradients: no node, the same values.
  const Tensor plain = q(Tensor::from_vector({-0.3f, 0.1f, 0.6f, 1.4f}, {4}), {.relu = true});
  EXPECT_FALSE(plain.requires_grad());
  EXPECT_EQ(plain.to_vector(), (std::vector<float>{0.0f, 0.0f, 0.5f, 1.5f}));
}

// Which layouts a GPU takes the element ops into its quantize pass for
// (element_ops_in_one_pass, the rule quantize_fused dispatches by; the GPU parity suite
// checks both sides of it): every elementwise format, block rows of at most 8192 elements
// spanning a bias, and nothing else.
TEST(QuantizeFused, TheGpusOnePassRuleTakesElementwiseFormatsAndBlockRows) {
  auto params = [](const Number& f, const Shape& shape) { return make_quant_params(f, Rounding::Nearest, shape); };
  const QuantParams fixed = params(FixedPoint{.wl = 8, .fl = 4}, {128, 256});
  const QuantParams rows = params(BlockFloatingPoint{.wl = 8, .dim = 0}, {128, 256});
  const QuantParams conv_rows = params(BlockFloatingPoint{.wl = 8, .dim = 0}, {4, 6, 28, 28});
  const QuantParams long_rows = params(BlockFloatingPoint{.wl = 8, .dim = 0}, {2, 8200});
  const QuantParams one_block = params(BlockFloatingPoint{.wl = 8, .dim = -1}, {128, 256});
  const QuantParams across = params(BlockFloatingPoint{.wl = 8, .dim = 1}, {128, 256});
  const QuantParams self_scaled = params(BlockFloatingPoint{.wl = 8, .dim = 0}, {256});
  const QuantParams mx = params(MXFormat{}, {128, 256});
  const BiasAdd none{}, last_axis{nullptr, 256, 1}, channels{nullptr, 6, 784};
  // A ReLU or a gate alone (no bias).
  EXPECT_TRUE(element_ops_in_one_pass(fixed, 128 * 256, none));
  EXPECT_TRUE(element_ops_in_one_pass(params(formats::fp8_e4m3(), {128, 256}), 128 * 256, none));
  EXPECT_TRUE(element_ops_in_one_pass(rows, 128 * 256, none));
  EXPECT_TRUE(element_ops_in_one_pass(conv_rows, 4 * 6 * 28 * 28, none));
  EXPECT_TRUE(element_ops_in_one_pass(self_scaled, 256, none));
  EXPECT_FALSE(element_ops_in_one_pass(long_rows, 2 * 8200, none));
  EXPECT_FALSE(element_ops_in_one_pass(one_block, 128 * 256, none));
  EXPECT_FALSE(element_ops_in_one_pass(across, 128 * 256, none));
  EXPECT_FALSE(element_ops_in_one_pass(mx, 128 * 256, none));
  EXPECT_FALSE(element_ops_in_one_pass(fixed, int64_t{1} << 32, none));
  // A bias: on the last axis for elementwise formats, spanning each row for block rows.
  EXPECT_TRUE(element_ops_in_one_pass(fixed, 128 * 256, last_axis));
  EXPECT_FALSE(element_ops_in_one_pass(params(FixedPoint{.wl = 8, .fl = 4}, {4, 6, 28, 28}), 4 * 6 * 784, channels));
  EXPECT_TRUE(element_ops_in_one_pass(rows, 128 * 256, last_axis));
  EXPECT_TRUE(element_ops_in_one_pass(conv_rows, 4 * 6 * 784, channels));
  EXPECT_FALSE(element_ops_in_one_pass(rows, 128 * 256, BiasAdd{nullptr, 128, 1}));
  EXPECT_FALSE(element_ops_in_one_pass(fixed, 128 * 256, BiasAdd{nullptr, -1, 1}));
}

}  // namespace
}  // namespace qtorch::quant::test
