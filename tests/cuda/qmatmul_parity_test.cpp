// CPU vs GPU for qmatmul (docs/numerics.md, "Low-precision multiply-accumulate"): every
// output must have the same bits, stochastic rounding included (same generator seed and
// offset on both devices, and both must reserve the same random blocks). Shapes cover
// K = 1, K = 0, sizes that are not multiples of the GPU's 32 x 32 output tile or its
// 32-wide k slab, and K = 784 (MNIST's fc1); every accumulate and multiply rounding; plain,
// multiply format, FMA, Kahan and chunk-based chains in fp16, bf16, float:5:2 and
// fixed:16:8; infinities, NaN, overflow, zeros of both signs and subnormals; values past
// float32's range and step; the graph op's gradients with forward and backward options that
// differ.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/qtorch.h"
#include "qtorch/quant/mac.h"
#include "tests/cuda/parity.h"

using namespace qtorch;
using parity::kGpu;
using quant::MacOptions;
using quant::parse_mac;

namespace {

const Rounding kRoundings[] = {Rounding::Stochastic, Rounding::Nearest, Rounding::NearestEven,
                               Rounding::TowardZero, Rounding::Up,      Rounding::Down};

const char* const kAccumulators[] = {"fp16", "bf16", "float:5:2", "fixed:16:8"};

/// Random values at several scales, so the accumulator sees cancellation, swamping and (for
/// the narrow formats) overflow; some entries are small integers times powers of two, so
/// products and sums hit grid points and ties.
Tensor mixed_matrix(int64_t rows, int64_t cols, uint32_t seed) {
  std::vector<float> v = parity::random_cpu({rows, cols}, seed, -1.0f, 1.0f).to_vector();
  const float scales[] = {1.0f, 4.0f, 1.0f / 64, 0.5f, 32.0f, 1.0f / 1024};
  for (size_t i = 0; i < v.size(); ++i) v[i] *= scales[(i * 7 + seed) % 6];
  for (size_t i = 5; i < v.size(); i += 11) v[i] = std::ldexp(std::round(v[i] * 64.0f), -6);
  return Tensor::from_vector(v, {rows, cols});
}

/// qmatmul_forward on both devices from the same generator state; same bits and the same
/// generator offset afterwards.
void check(const Tensor& a, const Tensor& b, const MacOptions& options, const std::string& what) {
  Generator gc(2025), gg(2025);
  gc.set_state(2025, 313);
  gg.set_state(2025, 313);
  const Tensor yc = quant::qmatmul_forward(a, b, options, &gc);
  const Tensor yg = quant::qmatmul_forward(a.to(kGpu), b.to(kGpu), options, &gg);
  const std::string label = what + " " + shape_str(a.shape()) + " x " + shape_str(b.shape()) + " " +
                            quant::mac_text(options);
  ASSERT_TRUE(yg.device().is_cuda()) << label;
  ASSERT_EQ(yg.shape(), yc.shape()) << label;
  parity::expect_same_bits(yc, yg, label);
  EXPECT_EQ(gc.offset(), gg.offset()) << label << ": both devices must reserve the same blocks";
}

struct Shape3 {
  int64_t m, k, n;
};

}  // namespace

TEST(CudaQmatmul, ShapesTimesEveryAccumulateRounding) {
  QTORCH_REQUIRE_CUDA();
  const Shape3 shapes[] = {{1, 1, 1},   {33, 1, 17},  {1, 40, 1},   {31, 45, 33},
                           {64, 64, 64}, {65, 33, 97}, {3, 0, 5},    {37, 784, 29}};
  uint32_t seed = 1;
  for (const Shape3& s : shapes) {
    const Tensor a = mixed_matrix(s.m, s.k, seed++), b = mixed_matrix(s.k, s.n, seed++);
    for (Rounding r : kRoundings) {
      MacOptions o = parse_mac("acc=fp16");
      o.accumulate_rounding = r;
      check(a, b, o, "shape");
    }
  }
}

TEST(CudaQmatmul, FormatsTimesOptionsTimesRoundings) {
  QTORCH_REQUIRE_CUDA();
  const char* const options[] = {"", ",mul=float:5:2", ",mul=float:4:3", ",fma", ",kahan", ",chunk=7",
                                 ",chunk=32,mul=bf16"};
  const Tensor a = mixed_matrix(35, 70, 101), b = mixed_matrix(70, 41, 102);
  int cases = 0;
  for (const char* acc : kAccumulators)
    for (const char* extra : options)
      for (Rounding r : kRoundings) {
        MacOptions o = parse_mac(std::string("acc=") + acc + extra);
        o.accumulate_rounding = r;
        // Every multiply rounding meets every accumulate rounding across the loop.
        o.multiply_rounding = kRoundings[(cases + 1) % 6];
        check(a, b, o, "options");
        ++cases;
      }
  // Both stochastic: the product and the sum draw different words of the same element.
  for (const char* acc : kAccumulators) {
    MacOptions o = parse_mac(std::string("acc=") + acc + ",mul=float:5:2");
    o.accumulate_rounding = o.multiply_rounding = Rounding::Stochastic;
    check(a, b, o, "both stochastic");
  }
}

TEST(CudaQmatmul, LongChainsOfMnistsFirstLayer) {
  QTORCH_REQUIRE_CUDA();
  // K = 784 (24.5 slabs of 32): long chains in every option, nearest and stochastic.
  const Tensor a = mixed_matrix(40, 784, 201), b = mixed_matrix(784, 36, 202);
  for (const char* acc : kAccumulators)
    for (const char* extra : {"", ",mul=float:4:3", ",fma", ",kahan", ",chunk=64"})
      for (Rounding r : {Rounding::Nearest, Rounding::Stochastic}) {
        MacOptions o = parse_mac(std::string("acc=") + acc + extra);
        o.accumulate_rounding = o.multiply_rounding = r;
        check(a, b, o, "K = 784");
      }
}

TEST(CudaQmatmul, SpecialValues) {
  QTORCH_REQUIRE_CUDA();
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  Tensor a = mixed_matrix(34, 19, 301), b = mixed_matrix(19, 35, 302);
  std::vector<float> av = a.to_vector(), bv = b.to_vector();
  // Row 0 holds inf, row 1 -inf and inf (inf - inf: NaN), row 2 NaN, row 3 values whose
  // products overflow fp16, bf16 and fixed:16:8, row 4 zeros of both signs, row 5
  // subnormals; column 0 of B holds zeros (inf * 0: NaN), column 1 inf.
  av[0 * 19 + 3] = inf;
  av[1 * 19 + 2] = -inf;
  av[1 * 19 + 9] = inf;
  av[2 * 19 + 4] = nan;
  for (int k = 0; k < 19; ++k) {
    av[3 * 19 + k] = k % 2 ? 3.0e4f : -2.5e38f;
    av[4 * 19 + k] = k % 2 ? 0.0f : -0.0f;
    av[5 * 19 + k] = std::ldexp(static_cast<float>(k + 1), -140);
  }
  for (int k = 0; k < 19; ++k) {
    bv[k * 35 + 0] = k % 3 ? 0.0f : -0.0f;
    if (k == 7) bv[k * 35 + 1] = inf;
  }
  a = Tensor::from_vector(av, {34, 19});
  b = Tensor::from_vector(bv, {19, 35});
  for (const char* acc : {"fp16", "bf16", "float:5:2", "fixed:16:8", "float:8:23", "float:4:3:fn"})
    for (const char* extra : {"", ",mul=float:5:2", ",fma", ",kahan", ",chunk=4"})
      for (Rounding r : kRoundings) {
        MacOptions o = parse_mac(std::string("acc=") + acc + extra);
        o.accumulate_rounding = o.multiply_rounding = r;
        check(a, b, o, "special values");
      }
}

// Past float32's range (products up to 2^132 into formats whose exponents reach 2^128, or a
// fixed point without clamp) and past 2^24 with parts below float32's step (fixed-point
// grids finer than float32's there): the overflow and step rules of round_double_to_format.
TEST(CudaQmatmul, PastFloat32sRangeAndStep) {
  QTORCH_REQUIRE_CUDA();
  std::vector<float> huge_a = mixed_matrix(9, 13, 501).to_vector(), huge_b = mixed_matrix(13, 37, 502).to_vector();
  for (float& x : huge_a) x = std::ldexp(x, 64);
  for (float& x : huge_b) x = std::ldexp(x, 62);
  std::vector<float> fine_a = mixed_matrix(9, 13, 503).to_vector(), fine_b(13 * 37);
  for (size_t i = 0; i < fine_a.size(); ++i) fine_a[i] = i % 3 ? std::ldexp(1.0f, 24 + static_cast<int>(i % 4)) + fine_a[i] : fine_a[i];
  for (size_t i = 0; i < fine_b.size(); ++i) fine_b[i] = static_cast<float>(static_cast<int>(i % 5) - 2);
  const Tensor ha = Tensor::from_vector(huge_a, {9, 13}), hb = Tensor::from_vector(huge_b, {13, 37});
  const Tensor fa = Tensor::from_vector(fine_a, {9, 13}), fb = Tensor::from_vector(fine_b, {13, 37});
  for (Rounding r : kRoundings) {
    for (const char* text : {"acc=float:8:23", "acc=float:8:7", "acc=float:8:23,mul=fixed:6:3:noclamp", "acc=e4m3",
                             "acc=fixed:8:4:noclamp,kahan"}) {
      MacOptions o = parse_mac(text);
      o.accumulate_rounding = o.multiply_rounding = r;
      check(ha, hb, o, "past float32's range");
    }
    for (const char* text : {"acc=fixed:8:4:noclamp", "acc=fixed:8:0:noclamp,chunk=4", "acc=fixed:40:2"}) {
      MacOptions o = parse_mac(text);
      o.accumulate_rounding = r;
      check(fa, fb, o, "past float32's step");
    }
  }
}

TEST(CudaQmatmul, StridedOperands) {
  QTORCH_REQUIRE_CUDA();
  // A transposed view times a column slice: each device makes them contiguous first.
  const Tensor at = mixed_matrix(50, 33, 401), b = mixed_matrix(80, 44, 402);
  const Tensor ac = at.transpose(0, 1), bc = b.slice(0, 0, 50).slice(1, 3, 45);
  const Tensor ag = at.to(kGpu).transpose(0, 1), bg = b.to(kGpu).slice(0, 0, 50).slice(1, 3, 45);
  ASSERT_FALSE(ag.is_contiguous());
  ASSERT_FALSE(bg.is_contiguous());
  for (const char* text : {"acc=bf16,acc_rounding=stochastic,chunk=16", "acc=fp16,mul=float:5:2,kahan"}) {
    const MacOptions o = parse_mac(text);
    Generator gc(5), gg(5);
    parity::expect_same_bits(quant::qmatmul_forward(ac, bc, o, &gc), quant::qmatmul_forward(ag, bg, o, &gg),
                             std::string("strided operands ") + text);
  }
}

TEST(CudaQmatmul, GradientsWithDifferentForwardAndBackwardOptions) {
  QTORCH_REQUIRE_CUDA();
  const Tensor a = mixed_matrix(45, 37, 501), b = mixed_matrix(37, 70, 502), g = mixed_matrix(45, 70, 503);
  const std::pair<const char*, const char*> pairs[] = {
      {"acc=fp16", "acc=float:5:2,kahan"},
      {"acc=bf16,mul=float:4:3,acc_rounding=stochastic,mul_rounding=stochastic", "acc=fp16,chunk=8"},
      {"acc=fixed:16:8,fma", "acc=bf16,acc_rounding=stochastic,mul=float:5:2"},
  };
  for (const auto& [forward_text, backward_text] : pairs) {
    const MacOptions forward = parse_mac(forward_text), backward = parse_mac(backward_text);
    const std::string label = std::string("forward ") + forward_text + ", backward " + backward_text;
    Tensor ac = a.clone().requires_grad_(true), bc = b.clone().requires_grad_(true);
    Tensor ag = a.to(kGpu).requires_grad_(true), bg = b.to(kGpu).requires_grad_(true);
    // The graph op draws from the default generator: the same state before each device's run.
    manual_seed(77);
    Tensor yc = quant::qmatmul(ac, bc, forward, backward);
    yc.backward(g);
    manual_seed(77);
    Tensor yg = quant::qmatmul(ag, bg, forward, backward);
    yg.backward(g.to(kGpu));
    parity::expect_same_bits(yc, yg, label + ": y");
    parity::expect_same_bits(ac.grad(), ag.grad(), label + ": dA");
    parity::expect_same_bits(bc.grad(), bg.grad(), label + ": dB");
  }
}

TEST(CudaQmatmul, OperandsOnTwoDevicesAreAnError) {
  QTORCH_REQUIRE_CUDA();
  const Tensor a = mixed_matrix(4, 5, 601), b = mixed_matrix(5, 3, 602);
  try {
    (void)quant::qmatmul_forward(a, b.to(kGpu), parse_mac("acc=fp16"));
    ADD_FAILURE() << "expected qtorch::Error for operands on cpu and cuda:0";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected both operands on one device, got cpu and cuda:0"),
              std::string::npos)
        << e.what();
  }
}
