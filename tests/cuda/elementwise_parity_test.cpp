// CPU vs GPU for every UnaryOp and BinaryOp, where, copy and fill, over dense, odd-sized,
// broadcast (stride-0), transposed, misaligned and strided-output layouts. Ops with one
// IEEE-rounded operation (add, mul, div, sqrt, comparisons, ...) must agree bit for bit;
// exp, log, tanh, sigmoid and pow differ by a few ulp between libm and CUDA (rtol 2e-6).
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/core/ops.h"
#include "qtorch/qtorch.h"
#include "tests/cuda/parity.h"

using namespace qtorch;
using parity::kGpu;

namespace {

struct UnaryCase {
  UnaryOp op;
  const char* name;
  float a, b;
  bool exact;
  float lo, hi;  // input range
};

const UnaryCase kUnary[] = {
    {UnaryOp::Copy, "copy", 0, 0, true, -5, 5},
    {UnaryOp::Neg, "neg", 0, 0, true, -5, 5},
    {UnaryOp::Exp, "exp", 0, 0, false, -20, 20},
    {UnaryOp::Log, "log", 0, 0, false, 1e-3f, 50},
    {UnaryOp::Sqrt, "sqrt", 0, 0, true, 0, 50},
    {UnaryOp::Abs, "abs", 0, 0, true, -5, 5},
    {UnaryOp::Sign, "sign", 0, 0, true, -5, 5},
    {UnaryOp::Relu, "relu", 0, 0, true, -5, 5},
    {UnaryOp::Sigmoid, "sigmoid", 0, 0, false, -20, 20},
    {UnaryOp::Tanh, "tanh", 0, 0, false, -5, 5},
    {UnaryOp::AddScalar, "add_scalar", 0.3f, 0, true, -5, 5},
    {UnaryOp::MulScalar, "mul_scalar", -1.7f, 0, true, -5, 5},
    {UnaryOp::PowScalar, "pow_scalar_2", 2.0f, 0, true, -5, 5},
    {UnaryOp::PowScalar, "pow_scalar_1.5", 1.5f, 0, false, 0, 5},
    {UnaryOp::PowScalar, "pow_scalar_-0.5", -0.5f, 0, false, 0.01f, 5},
    {UnaryOp::RSubScalar, "rsub_scalar", 2.5f, 0, true, -5, 5},
    {UnaryOp::RDivScalar, "rdiv_scalar", 3.0f, 0, true, 0.1f, 5},
    {UnaryOp::Clamp, "clamp", -1.0f, 0.5f, true, -5, 5},
    {UnaryOp::GtScalar, "gt_scalar", 0.25f, 0, true, -1, 1},
    {UnaryOp::LtScalar, "lt_scalar", 0.25f, 0, true, -1, 1},
    {UnaryOp::GeScalar, "ge_scalar", 0.0f, 0, true, -1, 1},
    {UnaryOp::EqScalar, "eq_scalar", 0.0f, 0, true, -1, 1},
};

void compare(const Tensor& cpu, const Tensor& gpu, bool exact, const std::string& what) {
  if (exact)
    parity::expect_same_bits(cpu, gpu, what, /*nan_any_payload=*/true);
  else
    parity::expect_close(cpu, gpu, 2e-6f, 1e-35f, what);
}

/// Runs a unary op into an existing out tensor (any layout) on both devices.
void unary_into(const UnaryCase& c, const Tensor& x_cpu, const Tensor& out_cpu,
                const Tensor& x_gpu, const Tensor& out_gpu) {
  backend_for(Device::cpu()).unary(c.op, x_cpu, out_cpu, c.a, c.b);
  backend_for(kGpu).unary(c.op, x_gpu, out_gpu, c.a, c.b);
}

}  // namespace

TEST(CudaElementwise, EveryUnaryOpDenseAndOddSized) {
  QTORCH_REQUIRE_CUDA();
  uint32_t seed = 10;
  for (const UnaryCase& c : kUnary) {
    // 7: scalar path; 5003: float4 path with a tail (and the CPU's xtensor path).
    for (int64_t n : {int64_t{7}, int64_t{5003}}) {
      Tensor x = parity::random_cpu({n}, seed++, c.lo, c.hi);
      if (c.op == UnaryOp::EqScalar || c.op == UnaryOp::GeScalar) {
        std::vector<float> v = x.to_vector();
        for (size_t i = 0; i < v.size(); i += 3) v[i] = c.a;  // hit equality
        x = Tensor::from_vector(v, x.shape());
      }
      Tensor y_cpu = ops::unary(c.op, x, c.a, c.b);
      Tensor y_gpu = ops::unary(c.op, x.to(kGpu), c.a, c.b);
      compare(y_cpu, y_gpu, c.exact, std::string(c.name) + " n=" + std::to_string(n));
    }
  }
}

TEST(CudaElementwise, SpecialValuesAgree) {
  QTORCH_REQUIRE_CUDA();
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  Tensor x = Tensor::from_vector({0.0f, -0.0f, inf, -inf, nan, 1e-40f, -1e-40f, 3.4e38f, -1.0f},
                                 {9});
  for (const UnaryCase& c : kUnary) {
    Tensor y_cpu = ops::unary(c.op, x, c.a, c.b);
    Tensor y_gpu = ops::unary(c.op, x.to(kGpu), c.a, c.b);
    compare(y_cpu, y_gpu, c.exact, std::string(c.name) + " special values");
  }
}

TEST(CudaElementwise, StridedMisalignedAndStridedOutput) {
  QTORCH_REQUIRE_CUDA();
  Tensor base = parity::random_cpu({41, 30}, 77, 0.1f, 4.0f);
  Tensor base_gpu = base.to(kGpu);
  for (const UnaryCase& c : kUnary) {
    // Transposed input into a column-strided output.
    Tensor x_cpu = base.t(), x_gpu = base_gpu.t();                    // [30, 41]
    Tensor o_cpu = zeros({30, 82}).slice(1, 0, 82, 2);                 // stride 2 on axis 1
    Tensor o_gpu = zeros({30, 82}, kGpu).slice(1, 0, 82, 2);
    unary_into(c, x_cpu, o_cpu, x_gpu, o_gpu);
    compare(o_cpu.contiguous(), o_gpu.contiguous(), c.exact, std::string(c.name) + " strided");
    // A dense view that starts one element in (not 16-byte aligned).
    Tensor m_cpu = base.flatten().slice(0, 1, 1001), m_gpu = base_gpu.flatten().slice(0, 1, 1001);
    compare(ops::unary(c.op, m_cpu, c.a, c.b), ops::unary(c.op, m_gpu, c.a, c.b), c.exact,
            std::string(c.name) + " misaligned");
  }
}

TEST(CudaElementwise, EveryBinaryOpWithBroadcasting) {
  struct Case {
    BinaryOp op;
    const char* name;
    bool exact;
  };
  const Case cases[] = {
      {BinaryOp::Add, "add", true},         {BinaryOp::Sub, "sub", true},
      {BinaryOp::Mul, "mul", true},         {BinaryOp::Div, "div", true},
      {BinaryOp::Pow, "pow", false},        {BinaryOp::Maximum, "maximum", true},
      {BinaryOp::Minimum, "minimum", true}, {BinaryOp::Eq, "eq", true},
      {BinaryOp::Ne, "ne", true},           {BinaryOp::Lt, "lt", true},
      {BinaryOp::Le, "le", true},           {BinaryOp::Gt, "gt", true},
      {BinaryOp::Ge, "ge", true},
  };
  QTORCH_REQUIRE_CUDA();
  // Values on a coarse grid so comparisons meet equal pairs; positive bases for pow.
  auto grid = [](const Shape& s, uint32_t seed) {
    std::vector<float> v = parity::random_cpu(s, seed, 0.25f, 3.0f).to_vector();
    for (float& x : v) x = std::round(x * 4.0f) / 4.0f;
    return Tensor::from_vector(v, s);
  };
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{1003}, {1003}},           // dense, odd
      {{64, 1, 5}, {1, 7, 5}},    // both broadcast
      {{128, 256}, {256}},        // bias add
      {{5, 6}, {}},               // scalar tensor
      {{3, 1, 4, 1, 2}, {1, 5, 1, 6, 1}},
  };
  uint32_t seed = 500;
  for (const Case& c : cases) {
    for (const auto& [sa, sb] : shapes) {
      Tensor a = grid(sa, seed++), b = grid(sb, seed++);
      Tensor y_cpu = ops::binary(c.op, a, b, c.name);
      Tensor y_gpu = ops::binary(c.op, a.to(kGpu), b.to(kGpu), c.name);
      compare(y_cpu, y_gpu, c.exact, std::string(c.name) + " " + shape_str(sa) + " vs " + shape_str(sb));
      // Transposed operands.
      if (sa.size() == 2 && sa == sb) {
        compare(ops::binary(c.op, a.t(), b.t(), c.name),
                ops::binary(c.op, a.to(kGpu).t(), b.to(kGpu).t(), c.name), c.exact,
                std::string(c.name) + " transposed");
      }
    }
  }
  // NaN and infinity handling of maximum/minimum and the comparisons.
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  Tensor a = Tensor::from_vector({nan, 1.0f, nan, -inf, 0.0f, -0.0f}, {6});
  Tensor b = Tensor::from_vector({1.0f, nan, nan, inf, -0.0f, 0.0f}, {6});
  for (const Case& c : cases) {
    if (c.op == BinaryOp::Pow) continue;
    compare(ops::binary(c.op, a, b, c.name), ops::binary(c.op, a.to(kGpu), b.to(kGpu), c.name),
            true, std::string(c.name) + " special values");
  }
}

TEST(CudaElementwise, WhereCopyAndFill) {
  QTORCH_REQUIRE_CUDA();
  Tensor cond = ops::unary(UnaryOp::GtScalar, parity::random_cpu({33, 1}, 3), 0.0f);
  Tensor a = parity::random_cpu({33, 20}, 4), b = parity::random_cpu({20}, 5);
  parity::expect_same_bits(ops::where(cond, a, b),
                           ops::where(cond.to(kGpu), a.to(kGpu), b.to(kGpu)), "where broadcast");

  // copy: broadcast source into a strided destination, and a plain dense copy.
  Tensor src = parity::random_cpu({1, 9}, 6);
  Tensor dst_cpu = zeros({12, 18}), dst_gpu = zeros({12, 18}, kGpu);
  ops::copy_into(dst_cpu.slice(1, 1, 18, 2), src);
  ops::copy_into(dst_gpu.slice(1, 1, 18, 2), src.to(kGpu));
  parity::expect_same_bits(dst_cpu, dst_gpu, "copy into strided");
  Tensor big = parity::random_cpu({100003}, 7);
  parity::expect_same_bits(big, big.to(kGpu).clone(), "dense device-to-device copy");

  // fill: zero (memset), non-zero, and a strided view.
  Tensor f_cpu = full({7, 9}, 2.5f), f_gpu = full({7, 9}, 2.5f, kGpu);
  f_cpu.slice(0, 0, 7, 3).fill_(-0.0f);
  f_gpu.slice(0, 0, 7, 3).fill_(-0.0f);
  parity::expect_same_bits(f_cpu, f_gpu, "fill");
  parity::expect_same_bits(zeros({1000}), zeros({1000}, kGpu), "zeros");
}

TEST(CudaElementwise, ManyAxesThatDoNotMerge) {
  QTORCH_REQUIRE_CUDA();
  // Nine axes that cannot merge (every other one is broadcast); CUDA handles up to ten.
  Shape sa = {2, 1, 2, 1, 2, 1, 2, 1, 2}, sb = {1, 3, 1, 3, 1, 3, 1, 3, 1};
  Tensor a = parity::random_cpu(sa, 8), b = parity::random_cpu(sb, 9);
  parity::expect_same_bits(ops::binary(BinaryOp::Add, a, b, "add"),
                           ops::binary(BinaryOp::Add, a.to(kGpu), b.to(kGpu), "add"), "9-D add");
}
