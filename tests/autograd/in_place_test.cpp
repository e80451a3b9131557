// In-place writes and autograd: the version counter of saved tensors and the refusal of
// in-place ops on recorded outputs (what PyTorch raises for, where a silent change would
// give a wrong gradient).
#include <gtest/gtest.h>

#include <string>

#include "qtorch/qtorch.h"
#include "support/error_of.h"

using namespace qtorch;

using qtorch::testing::error_of;

TEST(InPlace, EveryInPlaceWriteBumpsTheVersionSharedByViews) {
  Tensor x = zeros({2, 3});
  Tensor view = x.slice(1, 0, 2);
  const auto bumps = [&](const char* what, auto&& write) {
    const uint64_t before = x.version();
    write();
    EXPECT_GT(x.version(), before) << what;
    EXPECT_EQ(view.version(), x.version()) << what;
  };
  bumps("fill_", [&] { x.fill_(1.0f); });
  bumps("zero_", [&] { x.zero_(); });
  bumps("add_", [&] { x.add_(ones({2, 3})); });
  bumps("mul_ scalar", [&] { x.mul_(2.0f); });
  bumps("mul_ of a view", [&] { view.mul_(ones({2, 2})); });
  bumps("copy_", [&] { x.copy_(ones({3})); });
  bumps("copy_into", [&] { ops::copy_into(view, zeros({2, 2})); });
  bumps("quantize_into", [&] { quant::quantize_into(x, x, FixedPoint{8, 4}, Rounding::Nearest); });
  bumps("quantize_each_in_place", [&] {
    quant::quantize_each_in_place({view}, FixedPoint{8, 4}, Rounding::Nearest);
  });
  const uint64_t before = x.version();
  Tensor y = x * 2.0f + sum(view);
  quant::quantize(x, FixedPoint{8, 4}, Rounding::Nearest);
  EXPECT_EQ(x.version(), before);  // reading does not count
}

TEST(InPlace, ChangingASavedInputBeforeBackwardIsRefused) {
  // As PyTorch's "one of the variables needed for gradient computation has been modified by
  // an inplace operation": x * x saved x, which now holds 10 x (the gradient was 20 x).
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}).requires_grad_();
  Tensor y = x * x;
  x.mul_(10.0f);  // a leaf may change (an optimizer's update) ...
  const std::string message = error_of([&] { sum(y).backward(); });  // ... but not under a saved use
  EXPECT_NE(message.find("backward of 'mul'"), std::string::npos) << message;
  EXPECT_NE(message.find("in-place"), std::string::npos) << message;
  EXPECT_NE(message.find("shape [3]"), std::string::npos) << message;
}

TEST(InPlace, ChangingAnInputThatNoOpSavedIsAllowed) {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}).requires_grad_();
  Tensor y = x + 1.0f;  // add saves nothing
  x.mul_(10.0f);
  sum(y).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1, 1, 1}));
}

TEST(InPlace, ChangingASavedOutputOrAViewOfASavedTensorIsRefused) {
  Tensor x = Tensor::from_vector({-1, 2, 3}, {3}).requires_grad_();
  Tensor r = relu(x);  // saves its output
  {
    NoGradGuard no_grad;
    r.mul_(2.0f);
  }
  EXPECT_NE(error_of([&] { sum(r).backward(); }).find("backward of 'relu'"), std::string::npos);

  Tensor w = Tensor::from_vector({1, 2, 3, 4}, {2, 2}).requires_grad_();
  Tensor a = ones({3, 2}).requires_grad_();
  Tensor m = matmul(a, w);
  w.detach().slice(0, 0, 1).fill_(0.0f);  // detach and views share the memory and its version
  EXPECT_NE(error_of([&] { sum(m).backward(); }).find("backward of 'matmul'"), std::string::npos);
}

TEST(InPlace, InPlaceOpOnARecordedOutputIsRefusedWithGradModeOn) {
  // PyTorch records y.mul_(3) and gives dx = 6; not recording it would give 2. Refused.
  Tensor x = Tensor::from_vector({1, 2}, {2}).requires_grad_();
  Tensor y = x * 2.0f;
  const uint64_t before = y.version();
  const std::string message = error_of([&] { y.mul_(3.0f); });
  EXPECT_NE(message.find("mul_: in-place op on a tensor made by 'mul'"), std::string::npos) << message;
  EXPECT_EQ(y.version(), before);  // refused before anything is written
  EXPECT_EQ(y.to_vector(), (std::vector<float>{2, 4}));
  EXPECT_THROW(y.add_(ones({2})), Error);
  EXPECT_THROW(y.copy_(ones({2})), Error);
  EXPECT_THROW(y.fill_(0.0f), Error);
  EXPECT_THROW(y.zero_(), Error);
  EXPECT_THROW(x.slice(0, 0, 1).fill_(0.0f), Error);  // a differentiable view is a recorded output
  // The out-of-place form, and the detached tensor, are fine.
  Tensor z = y * 3.0f;
  sum(z).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{6, 6}));
  Tensor d = (x * 2.0f).detach();
  d.mul_(3.0f);
  EXPECT_EQ(d.to_vector(), (std::vector<float>{6, 12}));
}

TEST(InPlace, AnOptimizerStepBetweenTwoBackwardsOfOneGraphIsRefused) {
  Tensor w = Tensor::from_vector({1, 2, 3, 4}, {2, 2}).requires_grad_();
  Tensor x = Tensor::from_vector({1, 1}, {1, 2}).requires_grad_();  // dx = g w reads w
  optim::SGD sgd(std::vector<Tensor>{w}, optim::SGDOptions{.lr = 0.1});
  Tensor loss = sum(linear(x, w));
  loss.backward(/*retain_graph=*/true);
  sgd.step();  // changes w, which linear saved
  EXPECT_NE(error_of([&] { loss.backward(); }).find("backward of 'linear'"), std::string::npos);
  // The usual order (forward, backward, step) keeps working step after step.
  for (int i = 0; i < 3; ++i) {
    sgd.zero_grad();
    sum(linear(x, w)).backward();
    sgd.step();
  }
}

// max's backward read its output without the version check every other saved tensor has:
// a changed output gave a NaN gradient (or sent it to another element), where PyTorch raises.
TEST(InPlace, ChangingMaxsOutputBeforeBackwardIsRefused) {
  Tensor w = Tensor::from_vector({1, 5, 3}, {3}).requires_grad_();
  Tensor m = max(w);
  m.detach().fill_(100);
  EXPECT_NE(error_of([&] { m.backward(); }).find("was changed by an"), std::string::npos);
  Tensor rows = Tensor::from_vector({1, 5, 3, 2, 0, 4}, {2, 3}).requires_grad_();
  Tensor mr = max(rows, {1});
  mr.detach().add_(Tensor::from_vector({1, 1}, {2}));
  EXPECT_NE(error_of([&] { sum(mr).backward(); }).find("was changed by an"), std::string::npos);
  // Unchanged, the gradient goes to the maximum.
  Tensor v = Tensor::from_vector({1, 5, 3}, {3}).requires_grad_();
  max(v).backward();
  EXPECT_EQ(v.grad().to_vector(), (std::vector<float>{0, 1, 0}));
}

// quantize_into wrote into an op's output with grad mode on, which add_ refuses: the
// gradient would ignore the quantization.
TEST(InPlace, QuantizeIntoARecordedOutputIsRefusedWithGradModeOn) {
  Tensor w = full({4}, 0.3f).requires_grad_();
  Tensor y = w * 2.0f;
  EXPECT_NE(error_of([&] { quant::quantize_into(y, y, FixedPoint{.wl = 8, .fl = 2}, Rounding::Nearest); })
                .find("quantize_into: in-place write into a tensor made by 'mul'"),
            std::string::npos);
  {
    NoGradGuard no_grad;
    EXPECT_NO_THROW(quant::quantize_into(y, y, FixedPoint{.wl = 8, .fl = 2}, Rounding::Nearest));
  }
  // A leaf (a weight, as OptimLP quantizes them) is fine.
  EXPECT_NO_THROW(quant::quantize_into(w, w, FixedPoint{.wl = 8, .fl = 2}, Rounding::Nearest));
}

// The errors name the op the user called (they said "copy_" and "sum").
TEST(InPlace, ErrorsNameTheOpCalled) {
  Tensor x = zeros({2, 3});
  EXPECT_NE(error_of([&] { x.add_(zeros({4, 2, 3})); }).find("add_: expected a tensor that broadcasts to [2, 3]"),
            std::string::npos);
  Tensor e = zeros({1, 3}).expand({2, 3});
  EXPECT_EQ(error_of([&] { e.mul_(2.0f); }).rfind("mul_:", 0), 0u) << error_of([&] { e.mul_(2.0f); });
  EXPECT_EQ(error_of([&] { mean(zeros({2, 3}), {7}); }).rfind("mean:", 0), 0u)
      << error_of([&] { mean(zeros({2, 3}), {7}); });
}
