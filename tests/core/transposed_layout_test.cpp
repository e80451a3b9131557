// Elementwise ops and copies of transposed views (the CPU walks them in blocks of 32 columns,
// gathering strided values 64 at a time): every element against the value computed from the
// base tensor's own index, for shapes around the block sizes, a batch axis in front, a
// broadcast operand, and one thread or two (the last shape, 231 300 elements, is past the
// 131 072 at which the blocks are split among threads).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "qtorch/core/ops.h"
#include "qtorch/core/view.h"
#include "qtorch/qtorch.h"

namespace {

using namespace qtorch;

std::vector<float> pattern(int64_t count, float scale) {
  std::vector<float> v(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) v[static_cast<size_t>(i)] = scale * std::sin(0.37f * static_cast<float>(i)) - 0.1f;
  return v;
}

void expect_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float))) << what;
}

TEST(TransposedLayout, ElementwiseOpsAndCopiesReadEveryElementFromItsPlace) {
  const int before = get_num_threads();
  for (int threads : {1, 2})
    for (const auto& [batch, rows, cols] : std::vector<std::array<int64_t, 3>>{
             {1, 1, 1}, {1, 31, 33}, {1, 64, 65}, {3, 37, 45}, {2, 300, 129}, {3, 257, 300}}) {
      set_num_threads(threads);
      // base [batch, rows, cols]; x = base transposed to [batch, cols, rows]
      const std::vector<float> bv = pattern(batch * rows * cols, 3.0f), cv = pattern(batch * rows * cols, -2.0f);
      const Tensor base = Tensor::from_vector(bv, {batch, rows, cols});
      const Tensor other = Tensor::from_vector(cv, {batch, rows, cols});
      const Tensor x = ops::transpose(base, 1, 2), y = ops::transpose(other, 1, 2);
      const Tensor row_bias = Tensor::from_vector(pattern(rows, 1.0f), {1, 1, rows});  // broadcast along x's rows
      std::vector<float> copy, relu, expv, sum, prod;
      for (int64_t n = 0; n < batch; ++n)
        for (int64_t c = 0; c < cols; ++c)
          for (int64_t r = 0; r < rows; ++r) {
            const size_t at = static_cast<size_t>((n * rows + r) * cols + c);
            const float v = bv[at];
            copy.push_back(v);
            relu.push_back(v > 0.0f ? v : 0.0f);
            expv.push_back(std::exp(v));
            sum.push_back(v + row_bias.to_vector()[static_cast<size_t>(r)]);
            prod.push_back(v * cv[at]);
          }
      const std::string what = std::to_string(batch) + "x" + std::to_string(rows) + "x" + std::to_string(cols) + ", " +
                               std::to_string(threads) + " threads";
      expect_bits(ops::contiguous(x).to_vector(), copy, what + ": copy");
      expect_bits(ops::unary(UnaryOp::Relu, x).to_vector(), relu, what + ": relu");
      expect_bits(ops::unary(UnaryOp::Exp, x).to_vector(), expv, what + ": exp");
      expect_bits(ops::binary(BinaryOp::Add, x, row_bias, "add").to_vector(), sum, what + ": add a broadcast row");
      expect_bits(ops::binary(BinaryOp::Mul, x, y, "mul").to_vector(), prod, what + ": mul of two transposed");
    }
  set_num_threads(before);
}

}  // namespace
