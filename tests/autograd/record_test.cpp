// record(): ops as a forward plus a backward closure. Node names, what a node keeps alive
// and when, and the core view primitives (which record nothing) under the Tensor methods.
#include <gtest/gtest.h>

#include <memory>

#include "qtorch/autograd/node.h"
#include "qtorch/core/view.h"
#include "qtorch/qtorch.h"

using namespace qtorch;

TEST(Record, NodeNames) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  Tensor w = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  EXPECT_EQ((x + w).grad_fn_name(), "add");
  EXPECT_EQ((x - w).grad_fn_name(), "sub");
  EXPECT_EQ((x * w).grad_fn_name(), "mul");
  EXPECT_EQ((x / w).grad_fn_name(), "div");
  EXPECT_EQ((x * 2.0f).grad_fn_name(), "mul");
  EXPECT_EQ((x + 2.0f).grad_fn_name(), "add");
  EXPECT_EQ((-x).grad_fn_name(), "neg");
  EXPECT_EQ((1.0f - x).grad_fn_name(), "rsub");
  EXPECT_EQ((1.0f / x).grad_fn_name(), "rdiv");
  EXPECT_EQ(pow(x, 2.0f).grad_fn_name(), "pow");
  EXPECT_EQ(pow(x, w).grad_fn_name(), "pow");
  EXPECT_EQ(maximum(x, w).grad_fn_name(), "maximum");
  EXPECT_EQ(minimum(x, w).grad_fn_name(), "minimum");
  EXPECT_EQ(where(gt(x, w), x, w).grad_fn_name(), "where");
  EXPECT_EQ(clamp(x, 0, 1).grad_fn_name(), "clamp");
  EXPECT_EQ(exp(x).grad_fn_name(), "exp");
  EXPECT_EQ(relu(x).grad_fn_name(), "relu");
  EXPECT_EQ(softmax(x, 1).grad_fn_name(), "softmax");
  EXPECT_EQ(log_softmax(x, 1).grad_fn_name(), "log_softmax");
  EXPECT_EQ(sum(x).grad_fn_name(), "sum");
  EXPECT_EQ(mean(x).grad_fn_name(), "mean");
  EXPECT_EQ(max(x).grad_fn_name(), "max");
  EXPECT_EQ(matmul(x, w.t()).grad_fn_name(), "matmul");
  EXPECT_EQ(linear(x, w, Tensor()).grad_fn_name(), "linear");
  EXPECT_EQ(x.reshape({3, 2}).grad_fn_name(), "reshape");
  EXPECT_EQ(x.t().reshape({6}).grad_fn_name(), "reshape");  // a copy, still one "reshape"
  EXPECT_EQ(x.view({6}).grad_fn_name(), "reshape");
  EXPECT_EQ(x.flatten().grad_fn_name(), "reshape");
  EXPECT_EQ(x.unsqueeze(0).grad_fn_name(), "reshape");
  EXPECT_EQ(x.unsqueeze(0).squeeze(0).grad_fn_name(), "reshape");
  EXPECT_EQ(x.t().grad_fn_name(), "permute");
  EXPECT_EQ(x.permute({1, 0}).grad_fn_name(), "permute");
  EXPECT_EQ(x.slice(1, 0, 2).grad_fn_name(), "slice");
  EXPECT_EQ(x.narrow(1, 1, 2).grad_fn_name(), "slice");
  EXPECT_EQ(x.expand({4, 2, 3}).grad_fn_name(), "expand");
  EXPECT_EQ(x.t().contiguous().grad_fn_name(), "contiguous");
  EXPECT_EQ(x.clone().grad_fn_name(), "clone");
  // No new node where the result is the tensor itself (contiguous, as PyTorch)...
  EXPECT_TRUE(x.contiguous().is_same(x));
  // ...but squeezing an axis whose size is not 1 gives a new view, as PyTorch: it returned x
  // itself, a leaf, so that the result showed x's gradient and requires_grad_(false) on it
  // turned off x's.
  const Tensor same_shape = x.squeeze(0);
  EXPECT_FALSE(same_shape.is_same(x));
  EXPECT_FALSE(same_shape.is_leaf());
  EXPECT_EQ(same_shape.grad_fn_name(), "reshape");
  EXPECT_EQ(same_shape.shape(), x.shape());
}

TEST(Record, NothingRecordedWithoutGrad) {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3});
  EXPECT_EQ((x * x).grad_fn_name(), "");
  EXPECT_EQ(x.reshape({3, 1}).grad_fn_name(), "");
  Tensor r = ones({3}).requires_grad_();
  NoGradGuard no_grad;
  EXPECT_EQ((r * r).grad_fn_name(), "");
  EXPECT_TRUE(exp(r).is_leaf());
}

TEST(Record, CoreViewPrimitivesRecordNothing) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  for (const Tensor& v : {ops::reshape(x, {3, 2}), ops::transpose(x, 0, 1), ops::slice(x, 1, 0, 2),
                          ops::expand(x, {2, 2, 3}), ops::unsqueeze(x, 0), ops::clone(x),
                          ops::contiguous(ops::transpose(x, 0, 1))}) {
    EXPECT_EQ(v.impl()->autograd, nullptr);
    EXPECT_EQ(v.grad_fn_name(), "");
  }
  EXPECT_EQ(ops::reshape(x, {6}).data_ptr(), x.data_ptr());  // a view
}

TEST(Record, SavedTensorsAreFreedByBackwardUnlessRetained) {
  Tensor a = Tensor::from_vector({1, 2, 3}, {3}).requires_grad_();
  Tensor b = Tensor::from_vector({4, 5, 6}, {3}).requires_grad_();
  const long before = a.storage().use_count();
  Tensor y = sum(a * b);  // mul saves detached a and b: they share a's storage
  EXPECT_GT(a.storage().use_count(), before);
  y.backward(true);
  EXPECT_GT(a.storage().use_count(), before);  // retained: still saved
  y.backward();
  EXPECT_EQ(a.storage().use_count(), before);  // freed with the graph
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{8, 10, 12}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{2, 4, 6}));
}

TEST(Record, NodeDoesNotKeepItsOwnOutputAlive) {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}).requires_grad_();
  std::weak_ptr<Storage> out_storage;
  {
    Tensor y = exp(x);  // exp saves its output
    out_storage = y.storage();
    EXPECT_FALSE(out_storage.expired());
  }
  EXPECT_TRUE(out_storage.expired());
}

TEST(Record, GradientsThroughViewsAndCopies) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  Tensor w = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {6});
  sum(x.t().reshape({6}) * w).backward();  // reshape of a non-viewable transpose copies
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1, 3, 5, 2, 4, 6}));
  x.zero_grad();
  sum(x.slice(1, -2, 100, 1) * 2.0f + x.narrow(1, 0, 2)).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1, 3, 2, 1, 3, 2}));
  x.zero_grad();
  sum(x.permute({1, 0}).unsqueeze(0).expand({2, 3, 2}) * 1.0f).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{2, 2, 2, 2, 2, 2}));
}
