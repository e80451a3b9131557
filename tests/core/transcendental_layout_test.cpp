// The CPU's exp, log, tanh and sigmoid give libm's bits (core/scalar_ops.h, the function the
// GPU kernels call too) for every element, whatever the tensor's size and layout. Contiguous
// tensors of 4096 elements or more went through xsimd's vectorised algorithms, which are
// 1-3 ulp off libm on some inputs (and whose g++ -march=native build fused them into FMAs, so
// they also differed between builds): one value gave other bits in a large tensor than in a
// small or strided one.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/scalar_ops.h"
#include "qtorch/qtorch.h"

namespace qtorch {
namespace {

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

constexpr UnaryOp kTranscendental[] = {UnaryOp::Exp, UnaryOp::Log, UnaryOp::Tanh, UnaryOp::Sigmoid};

TEST(TranscendentalLayout, EveryElementGetsTheScalarFunctionsBits) {
  constexpr int64_t n = 1 << 16;  // contiguous and large
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = -8.0f + 16.0f * static_cast<float>(i) / n;
  x[0] = -0.20195426f;  // xsimd's exp gave 0.817132294 (fused) or 0.817132354 here
  for (UnaryOp op : kTranscendental) {
    std::vector<float> in = x;
    if (op == UnaryOp::Log)
      for (float& v : in) v = v < 0 ? -v + 1e-3f : v + 1e-3f;
    const std::vector<float> got = ops::unary(op, Tensor::from_vector(in, {n})).to_vector();
    int differ = 0;
    for (int64_t i = 0; i < n; ++i) differ += !same_bits(got[i], unary_value(op, in[i], 0, 0));
    EXPECT_EQ(differ, 0) << "op " << static_cast<int>(op);
  }
}

TEST(TranscendentalLayout, AnElementsResultIgnoresSizeAndLayout) {
  constexpr int64_t n = 70000;
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = 0.01f + 9.0f * static_cast<float>((i * 7919) % n) / n;
  const Tensor big = Tensor::from_vector(v, {n});
  for (UnaryOp op : kTranscendental) {
    const std::vector<float> whole = ops::unary(op, big).to_vector();
    for (int64_t len : {int64_t{1}, int64_t{15}, int64_t{33}}) {
      const std::vector<float> got = ops::unary(op, big.narrow(0, 100, len).contiguous()).to_vector();
      for (int64_t i = 0; i < len; ++i)
        ASSERT_TRUE(same_bits(got[i], whole[100 + i])) << "op " << static_cast<int>(op) << " len " << len;
    }
    const Tensor grid = big.narrow(0, 0, 300 * 200).reshape({300, 200});
    const std::vector<float> transposed = ops::unary(op, grid.transpose(0, 1)).transpose(0, 1).contiguous().to_vector();
    const std::vector<float> strided = ops::unary(op, big.slice(0, 0, n, 2)).to_vector();
    for (int64_t i = 0; i < 300 * 200; ++i)
      ASSERT_TRUE(same_bits(transposed[i], whole[i])) << "op " << static_cast<int>(op) << " at " << i;
    for (int64_t i = 0; i < n / 2; ++i)
      ASSERT_TRUE(same_bits(strided[i], whole[2 * i])) << "op " << static_cast<int>(op) << " at " << i;
  }
}

}  // namespace
}  // namespace qtorch
