// Links only core/'s objects (no autograd/, quant/, nn/, ...): core must stand on its own.
// A core source that calls a differentiable Tensor method (reshape, transpose, contiguous,
// detach, backward, ...) fails this target at link time; core/view.h has the primitives.
#include <gtest/gtest.h>

#include <vector>

#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/tensor.h"
#include "qtorch/core/view.h"

using namespace qtorch;

TEST(CoreStandalone, TensorsFactoriesAndCopies) {
  Tensor t = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.strides(), (Shape{3, 1}));
  EXPECT_EQ(zeros({2}).to_vector(), (std::vector<float>{0, 0}));
  EXPECT_EQ(arange(0, 3).to_vector(), (std::vector<float>{0, 1, 2}));
  Tensor u = zeros({2, 3});
  u.copy_(t).add_(ones({3}), 2.0f);
  EXPECT_EQ(u.to_vector(), (std::vector<float>{3, 4, 5, 6, 7, 8}));
  EXPECT_FALSE(t.str().empty());
}

TEST(CoreStandalone, ViewsShareStorageAndRecordNothing) {
  Tensor t = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor tt = ops::transpose(t, 0, 1);
  EXPECT_EQ(tt.shape(), (Shape{3, 2}));
  EXPECT_EQ(tt.strides(), (Shape{1, 3}));
  EXPECT_EQ(tt.data_ptr(), t.data_ptr());
  EXPECT_EQ(tt.impl()->autograd, nullptr);
  EXPECT_EQ(tt.to_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  Tensor c = ops::contiguous(tt);
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.data_ptr(), t.data_ptr());
  EXPECT_TRUE(ops::contiguous(t).is_same(t));
  EXPECT_EQ(ops::reshape(tt, {6}).to_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(ops::view(t, {3, -1}).shape(), (Shape{3, 2}));
  EXPECT_EQ(ops::slice(t, 1, 0, 3, 2).to_vector(), (std::vector<float>{1, 3, 4, 6}));
  EXPECT_EQ(ops::narrow(t, 0, 1, 1).to_vector(), (std::vector<float>{4, 5, 6}));
  EXPECT_EQ(ops::unsqueeze(t, 0).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(ops::squeeze(ops::unsqueeze(t, 1), 1).shape(), (Shape{2, 3}));
  EXPECT_EQ(ops::expand(ops::narrow(t, 0, 0, 1), {2, 3}).strides(), (Shape{0, 1}));
  EXPECT_EQ(ops::flatten(t).shape(), (Shape{6}));
  EXPECT_THROW(ops::view(tt, {6}), Error);
  EXPECT_THROW(ops::transpose(Tensor::from_vector({1}, {}), 0, 0), Error);  // a scalar has no axes to swap
}

TEST(CoreStandalone, MatmulAndElementwise) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector({1, 0, 0, 1, 1, 1}, {3, 2});
  EXPECT_EQ(ops::matmul(a, b).to_vector(), (std::vector<float>{4, 5, 10, 11}));
  // a transposed view goes to BLAS as a flag
  EXPECT_EQ(ops::matmul(ops::transpose(b, 0, 1), ops::transpose(a, 0, 1)).to_vector(),
            (std::vector<float>{4, 10, 5, 11}));
  Tensor s = ops::binary(BinaryOp::Add, a, Tensor::from_vector({10, 20, 30}, {3}), "add");
  EXPECT_EQ(s.to_vector(), (std::vector<float>{11, 22, 33, 14, 25, 36}));
  EXPECT_EQ(ops::unary(UnaryOp::Relu, ops::unary(UnaryOp::AddScalar, a, -3.0f)).to_vector(),
            (std::vector<float>{0, 0, 0, 1, 2, 3}));
  EXPECT_FLOAT_EQ(ops::sum(a).item(), 21.0f);
  EXPECT_EQ(ops::softmax(a, 0, false).shape(), (Shape{2, 3}));
}
