// The autograd engine: accumulation, hooks, retain_graph, no_grad, deep graphs, errors.
#include <gtest/gtest.h>

#include "qtorch/autograd/node.h"
#include "qtorch/qtorch.h"

using namespace qtorch;

TEST(Engine, ScalarBackwardAndAccumulation) {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}).requires_grad_();
  Tensor y = sum(x * x);
  y.backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{2, 4, 6}));
  sum(x * 3.0f).backward();  // accumulates into the leaf
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{5, 7, 9}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Engine, DiamondGraphSumsBothPaths) {
  Tensor x = Tensor::from_vector({2}, {1}).requires_grad_();
  Tensor a = x * 3.0f, b = x * x;
  Tensor y = a * b;  // 3x^3, dy/dx = 9x^2 = 36
  y.backward(ones({1}));
  EXPECT_FLOAT_EQ(x.grad().item(), 36.0f);
}

TEST(Engine, BroadcastGradientsAreSummedToTheInputShape) {
  Tensor b = Tensor::from_vector({1, 2}, {2}).requires_grad_();
  Tensor x = ones({3, 2});
  sum(x * b).backward();
  EXPECT_EQ(b.grad().shape(), (Shape{2}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{3, 3}));
}

TEST(Engine, BackwardWithExplicitGradient) {
  Tensor x = Tensor::from_vector({1, 2}, {2}).requires_grad_();
  Tensor y = x * 2.0f;
  y.backward(Tensor::from_vector({10, 100}, {2}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{20, 200}));
  EXPECT_THROW(y.backward(), Error);  // two elements: needs a gradient (and the graph is freed)
}

TEST(Engine, GraphIsFreedUnlessRetained) {
  Tensor x = ones({2}).requires_grad_();
  Tensor y = sum(exp(x));
  y.backward(true);
  y.backward();  // retained once: works
  EXPECT_THROW(y.backward(), Error);
}

TEST(Engine, HooksReplaceGradients) {
  Tensor x = ones({2}).requires_grad_();
  Tensor h = x * 2.0f;
  std::vector<float> seen;
  h.register_hook([&](const Tensor& g) {
    seen = g.to_vector();
    return g * 10.0f;
  });
  x.register_hook([](const Tensor& g) { return g + 1.0f; });
  sum(h * 3.0f).backward();
  EXPECT_EQ(seen, (std::vector<float>{3, 3}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{61, 61}));  // 3 * 10 * 2 + 1
}

TEST(Engine, NoGradGuardAndDetach) {
  Tensor x = ones({2}).requires_grad_();
  {
    NoGradGuard guard;
    Tensor y = x * 2.0f;
    EXPECT_FALSE(y.requires_grad());
  }
  Tensor d = (x * 2.0f).detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE((x * 2.0f).requires_grad());
  EXPECT_EQ((x * 2.0f).grad_fn_name(), "mul");
  EXPECT_THROW(sum(d).backward(), Error);
}

TEST(Engine, DeepGraphDoesNotOverflowTheStack) {
  Tensor x = ones({1}).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y + 0.0f;
  y.backward(ones({1}));
  EXPECT_FLOAT_EQ(x.grad().item(), 1.0f);
}

TEST(Engine, GradientOfAViewReachesTheBase) {
  Tensor x = arange(0, 6).reshape({2, 3});
  x.requires_grad_();
  sum(x.t().slice(0, 1, 3) * 2.0f).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0, 2, 2, 0, 2, 2}));
}

TEST(Engine, ReductionsIndependentOfThreadCount) {
  manual_seed(5);
  Tensor x = randn({3, 100003});
  set_num_threads(1);
  std::vector<float> a = sum(x, {1}).to_vector();
  float total1 = sum(x).item();
  set_num_threads(2);
  EXPECT_EQ(sum(x, {1}).to_vector(), a);
  EXPECT_EQ(sum(x).item(), total1);
}

// Stored gradients are stored without a copy only when nothing else reaches them; these
// are the cases where something does, and the stored gradient must stay independent.
TEST(Engine, StoredGradientsNeverAlias) {
  // a + b passes the same gradient tensor to both leaves.
  Tensor a = Tensor::from_vector({1, 2}, {2}).requires_grad_();
  Tensor b = Tensor::from_vector({3, 4}, {2}).requires_grad_();
  (a + b).backward(Tensor::from_vector({1, 1}, {2}));
  a.grad().mul_(5.0f);
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{1, 1}));
  EXPECT_NE(a.grad().data_ptr(), b.grad().data_ptr());

  // A leaf root: the caller keeps the gradient it passed in.
  Tensor x = Tensor::from_vector({1, 2}, {2}).requires_grad_();
  Tensor given = Tensor::from_vector({7, 8}, {2});
  x.backward(given);
  given.fill_(0.0f);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{7, 8}));

  // A hook that keeps what it sees: the stored gradient is not that tensor.
  Tensor w = Tensor::from_vector({1, 2}, {2}).requires_grad_();
  Tensor seen;
  w.register_hook([&](const Tensor& g) {
    seen = g;
    return g;
  });
  sum(w * 3.0f).backward();
  seen.fill_(0.0f);
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{3, 3}));

  // A view's gradient reaching its base: the base's gradient owns its memory.
  Tensor v = Tensor::from_vector({1, 2, 3, 4}, {2, 2}).requires_grad_();
  sum(v.transpose(0, 1) * 2.0f).backward();
  EXPECT_TRUE(v.grad().is_contiguous());
  EXPECT_EQ(v.grad().to_vector(), (std::vector<float>{2, 2, 2, 2}));
}

TEST(Engine, AGradientOfTheWrongShapeFromACustomOpIsAnError) {
  // It was summed "to the input's shape" through a view past its storage (a crash or garbage).
  Tensor x = zeros({2, 3}).requires_grad_();
  Tensor y = record("badop", ops::unary(UnaryOp::Neg, x), {x},
                    [](const Tensor&, const Node&) -> Grads { return {ones({5})}; });
  try {
    sum(y).backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("backward: 'badop' returned a gradient of shape [5] for its input 0 of "
                                         "shape [2, 3]"),
              std::string::npos)
        << e.what();
  }
  // A gradient that broadcasts to the input is summed back to it, as before.
  Tensor z = record("broadcast_grad", ops::unary(UnaryOp::Neg, x), {x},
                    [](const Tensor&, const Node&) -> Grads { return {ones({4, 2, 3})}; });
  sum(z).backward();
  EXPECT_EQ(x.grad().to_vector(), std::vector<float>(6, 4.0f));
}

TEST(Engine, UndefinedTensorsAndZeroDimensionalReductions) {
  EXPECT_THROW((void)Tensor().is_leaf(), Error);
  EXPECT_THROW((void)Tensor().detach(), Error);
  Tensor s = full({}, 2.0f).requires_grad_();
  Tensor m = max(s, {0});
  EXPECT_EQ(m.shape(), Shape{});
  sum(s, {0}).backward();
  EXPECT_EQ(s.grad().item(), 1.0f);
  mean(s, {-1}).backward();
  EXPECT_EQ(s.grad().item(), 2.0f);
  EXPECT_THROW(sum(s, {1}), Error);
}
