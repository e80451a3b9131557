// The CUDA backend's elementwise kernels (core/cuda/elementwise_kernels.cuh: the float4,
// dense and strided kernels, 32- and 64-bit index math) run on the CPU through
// tests/support/cuda_emulation.h, picked and launched by the library's own host code
// (run_elementwise over a StridedPlan), against the CPU backend bit for bit: every UnaryOp
// and BinaryOp, where and fill, over dense, odd-sized, misaligned, transposed, broadcast and
// strided-output layouts, with zeros of both signs, infinities, NaN and subnormals among the
// inputs. Both devices call core/scalar_ops.h, so even exp and pow agree here (on a device,
// CUDA's libm differs by a few ulp: tests/cuda/elementwise_parity_test.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/core/ops.h"
#include "qtorch/qtorch.h"
#include "tests/support/cuda_emulation.h"
#include "tests/support/same_bits.h"
// After the emulation: the kernels see its CUDA keywords.
#include "qtorch/core/cuda/elementwise_kernels.cuh"

using namespace qtorch;
namespace ek = qtorch::cuda::elementwise_kernels;
using qtorch::cuda::make_plan;
using qtorch::cuda::StridedPlan;

namespace {

const float kInf = std::numeric_limits<float>::infinity();
const float kSpecial[] = {0.0f, -0.0f, kInf, -kInf, std::nanf(""), 1e-40f, -1e-40f, 3.4e38f, -1.0f, 2.0f};

/// Random values in [lo, hi] (on a grid of quarters when coarse, so comparisons meet equal
/// pairs), with every seventh element one of kSpecial.
Tensor values(const Shape& shape, uint32_t seed, bool coarse = false) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-5.0f, 5.0f);
  std::vector<float> v(static_cast<size_t>(numel_of(shape)));
  for (size_t i = 0; i < v.size(); ++i) {
    const float r = dist(rng);
    v[i] = i % 7 == 3 ? kSpecial[(i / 7 + seed) % std::size(kSpecial)] : coarse ? std::round(r * 4.0f) / 4.0f : r;
  }
  return Tensor::from_vector(v, shape);
}

/// An output layout: a fresh view of a new tensor each call, so that the CPU backend and the
/// kernel write into alike but separate memory.
struct OutLayout {
  const char* name;
  Shape shape;  // the op's shape
  std::function<Tensor()> make;
};

std::vector<OutLayout> out_layouts() {
  return {
      {"dense 7", {7}, [] { return full({7}, 9.0f); }},
      {"dense 3001 (float4, 3 blocks, a tail)", {3001}, [] { return full({3001}, 9.0f); }},
      {"misaligned", {1001}, [] { return full({1002}, 9.0f).slice(0, 1, 1002); }},
      {"strided output", {30, 41}, [] { return full({30, 82}, 9.0f).slice(1, 0, 82, 2); }},
      {"transposed output", {30, 41}, [] { return full({41, 30}, 9.0f).t(); }},
  };
}

/// Inputs of `shape` in several layouts: dense, transposed, broadcast from a row, misaligned.
std::vector<std::pair<std::string, Tensor>> in_layouts(const Shape& shape, uint32_t seed, bool coarse) {
  std::vector<std::pair<std::string, Tensor>> r;
  r.emplace_back("dense", values(shape, seed, coarse));
  if (shape.size() == 2) {
    r.emplace_back("transposed", values({shape[1], shape[0]}, seed + 1, coarse).t());
    r.emplace_back("row broadcast", values({1, shape[1]}, seed + 2, coarse).expand(shape));
    r.emplace_back("column broadcast", values({shape[0], 1}, seed + 3, coarse).expand(shape));
  } else {
    r.emplace_back("misaligned", values({shape[0] + 1}, seed + 4, coarse).slice(0, 1, shape[0] + 1));
    r.emplace_back("scalar broadcast", values({1}, seed + 5, coarse).expand(shape));
  }
  return r;
}

/// The CPU backend's result (out_cpu) against the kernels' (out_kernel), both read densely.
void expect_same(const Tensor& out_kernel, const Tensor& out_cpu, const std::string& what) {
  test_support::expect_same_bits(out_kernel.contiguous().to_vector(), out_cpu.contiguous().to_vector(), what);
}

struct UnaryCase {
  UnaryOp op;
  float a, b;
};
const UnaryCase kUnary[] = {
    {UnaryOp::Copy, 0, 0},        {UnaryOp::Neg, 0, 0},        {UnaryOp::Exp, 0, 0},
    {UnaryOp::Log, 0, 0},         {UnaryOp::Sqrt, 0, 0},       {UnaryOp::Abs, 0, 0},
    {UnaryOp::Sign, 0, 0},        {UnaryOp::Relu, 0, 0},       {UnaryOp::Sigmoid, 0, 0},
    {UnaryOp::Tanh, 0, 0},        {UnaryOp::AddScalar, 0.3f, 0}, {UnaryOp::MulScalar, -1.7f, 0},
    {UnaryOp::PowScalar, 2.0f, 0}, {UnaryOp::PowScalar, 1.5f, 0}, {UnaryOp::PowScalar, -0.5f, 0},
    {UnaryOp::RSubScalar, 2.5f, 0}, {UnaryOp::RDivScalar, 3.0f, 0}, {UnaryOp::Clamp, -1.0f, 0.5f},
    {UnaryOp::GtScalar, 0.25f, 0}, {UnaryOp::LtScalar, 0.25f, 0}, {UnaryOp::GeScalar, 0.0f, 0},
    {UnaryOp::EqScalar, 2.0f, 0},
};

}  // namespace

TEST(ElementwiseKernelsEmulated, TheTablesCoverEveryOp) {
  std::vector<bool> unary(kUnaryOpCount, false);
  for (const UnaryCase& c : kUnary) unary[static_cast<size_t>(c.op)] = true;
  for (int op = 0; op < kUnaryOpCount; ++op) EXPECT_TRUE(unary[static_cast<size_t>(op)]) << "UnaryOp " << op;
}

TEST(ElementwiseKernelsEmulated, EveryUnaryOpInEveryLayoutGivesTheCpuBits) {
  Backend& cpu = backend_for(Device::cpu());
  uint32_t seed = 1;
  for (const UnaryCase& c : kUnary) {
    for (const OutLayout& o : out_layouts()) {
      for (const auto& [in_name, x] : in_layouts(o.shape, seed += 10, /*coarse=*/false)) {
        const std::string what = "unary op " + std::to_string(static_cast<int>(c.op)) + " a=" + std::to_string(c.a) +
                                 ", " + in_name + " into " + o.name;
        const Tensor want = o.make(), got = o.make();
        cpu.unary(c.op, x, want, c.a, c.b);
        const Tensor* t[2] = {&got, &x};
        ek::run_elementwise(make_plan<2>(t, "test"), ek::UnaryFn{c.op, c.a, c.b}, cuda_emulation::Launch{});
        expect_same(got, want, what);
      }
    }
  }
}

TEST(ElementwiseKernelsEmulated, EveryBinaryOpWithBroadcastingGivesTheCpuBits) {
  Backend& cpu = backend_for(Device::cpu());
  uint32_t seed = 1000;
  for (int op_index = 0; op_index < kBinaryOpCount; ++op_index) {
    const auto op = static_cast<BinaryOp>(op_index);
    for (const OutLayout& o : out_layouts()) {
      const auto as = in_layouts(o.shape, seed += 10, /*coarse=*/true);
      const auto bs = in_layouts(o.shape, seed += 10, /*coarse=*/true);
      for (size_t i = 0; i < as.size(); ++i) {
        for (size_t j : {i, (i + 1) % bs.size()}) {
          const Tensor &a = as[i].second, &b = bs[j].second;
          const std::string what = "binary op " + std::to_string(op_index) + ", " + as[i].first + " and " +
                                   bs[j].first + " into " + o.name;
          const Tensor want = o.make(), got = o.make();
          cpu.binary(op, a, b, want);
          const Tensor* t[3] = {&got, &a, &b};
          ek::run_elementwise(make_plan<3>(t, "test"), ek::BinaryFn{op}, cuda_emulation::Launch{});
          expect_same(got, want, what);
        }
      }
    }
  }
}

TEST(ElementwiseKernelsEmulated, WhereAndFillGiveTheCpuBits) {
  Backend& cpu = backend_for(Device::cpu());
  uint32_t seed = 5000;
  for (const OutLayout& o : out_layouts()) {
    // cond: zeros of both signs, NaN (true) and other values, in every input layout.
    const auto conds = in_layouts(o.shape, seed += 10, /*coarse=*/true);
    const auto as = in_layouts(o.shape, seed += 10, false), bs = in_layouts(o.shape, seed += 10, false);
    for (size_t i = 0; i < conds.size(); ++i) {
      const Tensor &c = conds[i].second, &a = as[(i + 1) % as.size()].second, &b = bs[(i + 2) % bs.size()].second;
      const Tensor want = o.make(), got = o.make();
      cpu.where(c, a, b, want);
      const Tensor* t[4] = {&got, &c, &a, &b};
      ek::run_elementwise(make_plan<4>(t, "test"), ek::WhereFn{}, cuda_emulation::Launch{});
      expect_same(got, want, std::string("where, cond ") + conds[i].first + " into " + o.name);
    }
    for (float v : {2.5f, -0.0f, std::nanf("")}) {
      const Tensor want = o.make(), got = o.make();
      cpu.fill(want, v);
      const Tensor* t[1] = {&got};
      ek::run_elementwise(make_plan<1>(t, "test"), ek::FillFn{v}, cuda_emulation::Launch{});
      expect_same(got, want, std::string("fill ") + std::to_string(v) + " into " + o.name);
    }
  }
}

// The grid-stride loops, the float4 kernel's tail with fewer threads than its elements, and
// the 64-bit strided kernel (the library takes it from 2^31 elements), on grids of one and
// two CUDA blocks of 64 threads.
TEST(ElementwiseKernelsEmulated, GridStrideLoopsAndTheWideIndexKernel) {
  Backend& cpu = backend_for(Device::cpu());
  const Tensor x = values({2003}, 77), xt = values({37, 53}, 78).t();
  const ek::UnaryFn f{UnaryOp::MulScalar, -1.5f, 0.0f};
  for (unsigned blocks : {1u, 2u}) {
    const std::string grid = std::to_string(blocks) + " blocks: ";
    Tensor want = empty({2003}), got = full({2003}, 9.0f);
    cpu.unary(f.op, x, want, f.a, f.b);
    const Tensor* dense[2] = {&got, &x};
    const StridedPlan<2> p = make_plan<2>(dense, "test");
    ASSERT_TRUE(p.contiguous && p.aligned16);
    cuda_emulation::launch(ek::contiguous_vec4_kernel<2, ek::UnaryFn>, dim3(blocks), dim3(64), p, f);
    expect_same(got, want, grid + "float4");
    got.fill_(9.0f);
    cuda_emulation::launch(ek::contiguous_kernel<2, ek::UnaryFn>, dim3(blocks), dim3(64), p, f);
    expect_same(got, want, grid + "dense");

    Tensor want_t = empty({53, 37}), got_t = full({53, 37}, 9.0f);
    cpu.unary(f.op, xt, want_t, f.a, f.b);
    const Tensor* strided[2] = {&got_t, &xt};
    const StridedPlan<2> q = make_plan<2>(strided, "test");
    ASSERT_FALSE(q.contiguous);
    cuda_emulation::launch(ek::strided_kernel<2, int64_t, ek::UnaryFn>, dim3(blocks), dim3(64), q, f);
    expect_same(got_t, want_t, grid + "strided, 64-bit index");
    got_t.fill_(9.0f);
    cuda_emulation::launch(ek::strided_kernel<2, uint32_t, ek::UnaryFn>, dim3(blocks), dim3(64), q, f);
    expect_same(got_t, want_t, grid + "strided, 32-bit index");
  }
}
