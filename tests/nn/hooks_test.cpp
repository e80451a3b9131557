// Module hooks: a forward hook sees (and may replace) a layer's output, a backward hook
// captures the gradient of a layer's output inside a Sequential; both can be removed.
#include <gtest/gtest.h>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/loss.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/nn/activation.h"
#include "qtorch/nn/linear.h"
#include "qtorch/nn/sequential.h"

namespace qtorch::nn {
namespace {

TEST(ModuleHooks, BackwardHookCapturesTheOutputGradientInsideSequential) {
  manual_seed(0);
  auto first = std::make_shared<Linear>(3, 2, LinearOptions{.bias = false});
  auto net = sequential({first, std::make_shared<ReLU>()});
  Tensor captured;
  const int64_t id = first->register_full_backward_hook([&](Module& m, const Tensor& g) {
    EXPECT_EQ(&m, first.get());
    captured = g.clone();
  });
  Tensor x = Tensor::from_vector({1, 2, 3}, {1, 3});
  Tensor y = (*net)(x);
  // loss = sum(relu(y) * w): d loss / d (first's output) = w where y > 0, else 0.
  const std::vector<float> yv = y.to_vector();
  Tensor w = Tensor::from_vector({0.5f, -2.0f}, {1, 2});
  sum(y * w).backward();
  ASSERT_TRUE(captured.defined());
  const std::vector<float> hv = (*first)(x).to_vector();
  std::vector<float> expected;
  for (int j = 0; j < 2; ++j) expected.push_back(hv[j] > 0 ? (j == 0 ? 0.5f : -2.0f) : 0.0f);
  EXPECT_EQ(captured.to_vector(), expected);
  EXPECT_EQ(yv.size(), 2u);

  first->remove_hook(id);
  captured = Tensor();
  sum((*net)(x) * w).backward();
  EXPECT_FALSE(captured.defined());
  EXPECT_THROW(first->remove_hook(id), Error);
}

TEST(ModuleHooks, ForwardHookSeesInputAndOutputAndMayReplaceIt) {
  auto relu = std::make_shared<ReLU>();
  Tensor seen_in, seen_out;
  relu->register_forward_hook([&](Module&, const Tensor& in, const Tensor& out) {
    seen_in = in;
    seen_out = out;
    return Tensor();  // keep the output
  });
  Tensor x = Tensor::from_vector({-1, 2}, {2});
  EXPECT_EQ((*relu)(x).to_vector(), (std::vector<float>{0, 2}));
  EXPECT_EQ(seen_in.to_vector(), (std::vector<float>{-1, 2}));
  EXPECT_EQ(seen_out.to_vector(), (std::vector<float>{0, 2}));
  relu->register_forward_hook([](Module&, const Tensor&, const Tensor& out) { return out * 3.0f; });
  EXPECT_EQ((*relu)(x).to_vector(), (std::vector<float>{0, 6}));
  EXPECT_EQ(relu->forward(x).to_vector(), (std::vector<float>{0, 2}));  // forward() skips hooks
  EXPECT_THROW(relu->register_forward_hook(nullptr), Error);
}

TEST(LossErrors, BadClassIndexNamesTheUsersOp) {
  Tensor logits = zeros({2, 10});
  Tensor labels = Tensor::from_vector({3, 12}, {2});
  try {
    cross_entropy(logits, labels);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "cross_entropy: expected class indices in [0, 10), got 12");
  }
  try {
    nll_loss(logits, Tensor::from_vector({-1, 0}, {2}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("nll_loss: expected class indices in [0, 10), got -1", 0), 0u) << e.what();
  }
}

// A hook that removes itself or registers another ran on freed memory (the loop walked the
// list it changed). As in PyTorch: the change takes effect from the next call.
TEST(ModuleHooks, AHookMayRemoveItselfOrRegisterAnother) {
  auto relu = std::make_shared<nn::ReLU>();
  int once = 0, added = 0;
  int64_t id = 0;
  id = relu->register_forward_hook([&](nn::Module& m, const Tensor&, const Tensor&) {
    ++once;
    m.remove_hook(id);
    m.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor& out) {
      ++added;
      return out * 2.0f;
    });
    return Tensor();
  });
  const Tensor x = Tensor::from_vector({1.0f, -1.0f}, {2});
  EXPECT_EQ((*relu)(x).to_vector(), (std::vector<float>{1.0f, 0.0f}));
  EXPECT_EQ(once, 1);
  EXPECT_EQ(added, 0);
  EXPECT_EQ((*relu)(x).to_vector(), (std::vector<float>{2.0f, 0.0f}));
  EXPECT_EQ(once, 1);
  EXPECT_EQ(added, 1);
}

}  // namespace
}  // namespace qtorch::nn
