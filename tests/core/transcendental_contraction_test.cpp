// The CPU's vectorised exp, log, tanh and sigmoid (xsimd, core/cpu/cpu_elementwise.cpp) give
// the bits of xsimd's algorithms with every product and sum rounded on its own, as a
// portable or clang build computes them. g++'s default contraction fused them into FMAs under
// -march=native only, and that build's exp differed in the last bits on about 0.5% of inputs.
// This file is compiled with -ffp-contract=off (tests/CMakeLists.txt): its reference is the
// unfused algorithm.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtorch/core/backend.h"
#include "qtorch/core/ops.h"
#include "qtorch/qtorch.h"

namespace qtorch {
namespace {

template <class F>
std::vector<float> reference(const std::vector<float>& x, F f) {
  using B = xsimd::batch<float>;
  std::vector<float> out(x.size());
  for (size_t i = 0; i + B::size <= x.size(); i += B::size) f(B::load_unaligned(&x[i])).store_unaligned(&out[i]);
  return out;
}

TEST(TranscendentalContraction, VectorisedPathGivesTheUnfusedBits) {
  constexpr int64_t n = 1 << 16;  // contiguous and large: the vectorised path, whole batches
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = -8.0f + 16.0f * static_cast<float>(i) / n;
  x[0] = -0.20195426f;  // fused and unfused exp differed here (0.817132294 against 0.817132354)
  const Tensor t = Tensor::from_vector(x, {n});
  struct Case {
    UnaryOp op;
    std::vector<float> want;
  };
  std::vector<float> positive(x);
  for (float& v : positive) v = v < 0 ? -v + 1e-3f : v + 1e-3f;
  const Tensor tp = Tensor::from_vector(positive, {n});
  using B = xsimd::batch<float>;
  const std::vector<Case> cases = {
      {UnaryOp::Exp, reference(x, [](B v) { return xsimd::exp(v); })},
      {UnaryOp::Tanh, reference(x, [](B v) { return xsimd::tanh(v); })},
      {UnaryOp::Sigmoid, reference(x, [](B v) { return B(1.0f) / (B(1.0f) + xsimd::exp(-v)); })},
      {UnaryOp::Log, reference(positive, [](B v) { return xsimd::log(v); })}};
  for (const Case& c : cases) {
    const Tensor got = ops::unary(c.op, c.op == UnaryOp::Log ? tp : t);
    int differ = 0;
    for (int64_t i = 0; i < n; ++i) differ += std::memcmp(&got.data_ptr()[i], &c.want[i], sizeof(float)) != 0;
    EXPECT_EQ(differ, 0) << "op " << static_cast<int>(c.op);
  }
}

}  // namespace
}  // namespace qtorch
