// Reductions of tensors with an empty axis, as PyTorch 1.13: max, min, argmax and mean over
// axes that hold elements give an empty result (max of a [0, 3, 4] tensor over axis 1 is
// [0, 4]) and its backward an empty gradient; over an empty axis they are refused, naming
// the shape and the axis (PyTorch refuses max and argmax; its mean is NaN). Sum over an empty
// axis is 0.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/qtorch.h"
#include "support/error_of.h"

namespace {

using namespace qtorch;

using qtorch::testing::error_of;

TEST(EmptyReduce, ReducingAxesThatHoldElementsGivesAnEmptyResult) {
  const Tensor x = zeros({0, 3, 4}).requires_grad_();
  EXPECT_EQ(max(x, {1}).shape(), (Shape{0, 4}));
  EXPECT_EQ(ops::reduce(ReduceOp::Min, x, {2}, true, "min").shape(), (Shape{0, 3, 1}));
  EXPECT_EQ(argmax(x, 1).shape(), (Shape{0, 4}));
  EXPECT_EQ(mean(x, {1, 2}).shape(), (Shape{0}));
  Tensor y = sum(max(x, {1})) + sum(mean(x, {2}));
  y.backward();
  EXPECT_EQ(x.grad().shape(), (Shape{0, 3, 4}));
  EXPECT_EQ(sum(x, {0}).to_vector(), std::vector<float>(12, 0.0f));  // a sum over no elements
}

TEST(EmptyReduce, ReducingAnEmptyAxisIsRefusedNamingIt) {
  const Tensor x = zeros({0, 3, 4});
  EXPECT_EQ(error_of([&] { max(x, {0}); }),
            "max: expected elements along every reduced axis, got shape [0, 3, 4] (axis 0 is empty)");
  EXPECT_EQ(error_of([&] { max(x); }),
            "max: expected elements along every reduced axis, got shape [0, 3, 4] (axis 0 is empty)");
  EXPECT_EQ(error_of([&] { argmax(x, 0); }),
            "argmax: expected elements along every reduced axis, got shape [0, 3, 4] (axis 0 is empty)");
  EXPECT_EQ(error_of([&] { mean(x, {0, 1}); }),
            "mean: expected elements along every reduced axis, got shape [0, 3, 4]");
  EXPECT_EQ(error_of([&] { mean(x); }), "mean: expected elements along every reduced axis, got shape [0, 3, 4]");
}

}  // namespace
