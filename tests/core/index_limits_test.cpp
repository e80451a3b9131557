// Limits of the index types the ops hand on: float32 indices (argmax, max pooling's positions,
// class targets) are exact up to 2^24, and BLAS takes int extents. Past them a clear error,
// never a wrong number (audit s29: argmax returned 16777216 for 16777217, a matmul with K past
// 2^32 summed 4 products, a class index of 2^24 was refused with 2^24 + 1 classes). The
// tensors past the limits are views with zero strides over one element, so nothing large is
// allocated before the refusal.
#include <gtest/gtest.h>

#include <string>

#include "qtorch/core/float_index.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/view.h"
#include "qtorch/qtorch.h"
#include "support/error_of.h"

using namespace qtorch;
using qtorch::testing::error_of;

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

TEST(IndexLimits, ArgmaxTakesAxesWhoseIndicesFloat32Holds) {
  // 2^24 + 1 elements: the last index, 2^24, is exact, and found.
  std::vector<float> v(static_cast<size_t>(kMaxFloatIndex) + 1, 0.0f);
  v.back() = 1.0f;
  EXPECT_EQ(argmax(Tensor::from_vector(v, {kMaxFloatIndex + 1}), 0).item(), static_cast<float>(kMaxFloatIndex));
  // One more, and index 2^24 + 1 has no float32: refused.
  const Tensor longer = as_strided(zeros({1}), {2, kMaxFloatIndex + 2}, {0, 0}, 0);
  const std::string message = error_of([&] { argmax(longer, 1); });
  EXPECT_TRUE(starts_with(message, "argmax: expected at most 2^24 + 1 elements along the axis")) << message;
  EXPECT_NE(message.find("[2, 16777218] (axis 1)"), std::string::npos) << message;
  EXPECT_EQ(argmax(longer, 0).shape(), (Shape{kMaxFloatIndex + 2}));  // the other axis is short
}

TEST(IndexLimits, MaxPoolRefusesPlanesWhosePositionsFloat32CannotHold) {
  const Tensor plane = as_strided(zeros({1}), {1, 1, 4097, 4097}, {0, 0, 0, 0}, 0);  // 2^24 + 8193
  const std::string message = error_of([&] { ops::max_pool2d(plane, {.kernel_h = 2, .kernel_w = 2}); });
  EXPECT_EQ(message, "max_pool2d: expected planes of at most 2^24 + 1 elements (the indices are float32, exact up "
                     "to 2^24), got 4097x4097 in [1, 1, 4097, 4097]");
}

TEST(IndexLimits, ClassIndexTwoToThe24IsTheLastOf2To24Plus1Classes) {
  std::vector<float> row(static_cast<size_t>(kMaxFloatIndex) + 1, 0.0f);
  row.back() = 5.0f;
  const Tensor logits = Tensor::from_vector(row, {1, kMaxFloatIndex + 1});
  const Tensor target = Tensor::from_vector({static_cast<float>(kMaxFloatIndex)}, {1});
  EXPECT_EQ(ops::gather_rows(logits, target).item(), 5.0f);
  EXPECT_NE(error_of([&] { ops::gather_rows(logits, Tensor::from_vector({16777218.0f}, {1})); })
                .find("expected class indices in [0, 16777217), got 16777218"),
            std::string::npos);
  EXPECT_TRUE(is_class_index(16777216.0f, kMaxFloatIndex + 1));
  EXPECT_FALSE(is_class_index(16777216.0f, kMaxFloatIndex));
  EXPECT_FALSE(is_class_index(0.5f, 3));
  EXPECT_FALSE(is_class_index(-0.0f - 1.0f, 3));
}

TEST(IndexLimits, MatrixProductsPastBlasIntAreRefused) {
  const int64_t big = (int64_t{1} << 31) + 4;
  const Tensor wide_a = as_strided(ones({1}), {2, big}, {0, 0}, 0);
  const Tensor tall_b = as_strided(ones({1}), {big, 3}, {0, 0}, 0);
  EXPECT_EQ(error_of([&] { ops::matmul(wide_a, tall_b); }),
            "matmul: expected a matrix product whose N, K and row strides are below 2^31 (BLAS takes int), got "
            "[M=2, K=2147483652] x [K, N=3] with row strides 0, 0 and 0");
  const Tensor b_wide = as_strided(ones({1}), {3, big}, {0, 0}, 0);
  EXPECT_TRUE(starts_with(error_of([&] { ops::matmul(ones({2, 3}), b_wide); }), "matmul: expected a matrix product"));
  // A convolution's im2col product: N * out_h * out_w columns.
  const Tensor x = as_strided(zeros({1}), {1, 1, 1, big}, {0, 0, 0, 0}, 0);
  const std::string message =
      error_of([&] { ops::conv2d(x, ones({1, 1, 1, 1}), Tensor(), {.algorithm = ConvAlgorithm::Im2col}); });
  EXPECT_TRUE(starts_with(message, "conv2d: expected a matrix product whose N, K and row strides are below 2^31"))
      << message;
}

}  // namespace
