// Tensor basics: factories, views sharing storage, strides, copies, printing, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "qtorch/core/error.h"
#include "qtorch/core/tensor.h"
#include "qtorch/qtorch.h"

using namespace qtorch;

TEST(Tensor, FromVectorRoundTrip) {
  Tensor t = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.strides(), (Shape{3, 1}));
  EXPECT_EQ(t.numel(), 6);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.to_vector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(Tensor, Factories) {
  EXPECT_EQ(zeros({2, 2}).to_vector(), (std::vector<float>{0, 0, 0, 0}));
  EXPECT_EQ(ones({3}).to_vector(), (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(full({2}, 2.5f).to_vector(), (std::vector<float>{2.5f, 2.5f}));
  EXPECT_EQ(arange(0, 5).to_vector(), (std::vector<float>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(1, 2, 0.25f).to_vector(), (std::vector<float>{1, 1.25f, 1.5f, 1.75f}));
  EXPECT_EQ(linspace(-1, 1, 5).to_vector(), (std::vector<float>{-1, -0.5f, 0, 0.5f, 1}));
  EXPECT_FLOAT_EQ(full({}, 3.0f).item(), 3.0f);
}

TEST(Tensor, TransposeIsAViewWithSwappedStrides) {
  Tensor t = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor tt = t.t();
  EXPECT_EQ(tt.shape(), (Shape{3, 2}));
  EXPECT_EQ(tt.strides(), (Shape{1, 3}));
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.to_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(tt.data_ptr(), t.data_ptr());
  Tensor c = tt.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.data_ptr(), t.data_ptr());
  EXPECT_EQ(c.to_vector(), tt.to_vector());
}

TEST(Tensor, TOfFewerThanTwoAxesIsTheTensorAndOfMoreIsRefused) {
  // As PyTorch's t(): 0 and 1 axes give a view of the tensor itself; 3 axes are refused (it
  // swapped the first two silently, audit s29).
  const Tensor v = Tensor::from_vector({1, 2, 3}, {3});
  const Tensor vt = v.t();
  EXPECT_EQ(vt.shape(), (Shape{3}));
  EXPECT_EQ(vt.data_ptr(), v.data_ptr());
  EXPECT_EQ(Tensor::from_vector({7}, {}).t().item(), 7.0f);
  try {
    zeros({2, 3, 4}).t();
    ADD_FAILURE() << "t() of a 3-D tensor did not throw";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "t: expected a tensor of at most 2 axes, got shape [2, 3, 4] (transpose(a, b) swaps any two)");
  }
  Tensor x = Tensor::from_vector({1, 2}, {2}).requires_grad_();
  sum(x.t() * Tensor::from_vector({3, 5}, {2})).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{3, 5}));
}

TEST(Tensor, WritesThroughViewsReachTheBase) {
  Tensor t = zeros({3, 4});
  t.slice(1, 1, 3).fill_(7.0f);
  t.narrow(0, 2, 1).slice(1, 0, 1).fill_(-1.0f);
  EXPECT_EQ(t.to_vector(), (std::vector<float>{0, 7, 7, 0, 0, 7, 7, 0, -1, 7, 7, 0}));
  Tensor r = t.reshape({12});
  r.slice(0, 0, 12, 4).fill_(5.0f);
  EXPECT_EQ(t.to_vector(), (std::vector<float>{5, 7, 7, 0, 5, 7, 7, 0, 5, 7, 7, 0}));
}

TEST(Tensor, SliceWithStepAndNegativeBounds) {
  Tensor t = arange(0, 10);
  EXPECT_EQ(t.slice(0, 1, 8, 3).to_vector(), (std::vector<float>{1, 4, 7}));
  EXPECT_EQ(t.slice(0, -3, 10).to_vector(), (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(t.slice(0, 1, 8, 3).strides(), (Shape{3}));
}

TEST(Tensor, ReshapeViewSqueezeUnsqueezeExpandPermute) {
  Tensor t = arange(0, 24).reshape({2, 3, 4});
  EXPECT_EQ(t.reshape({-1, 4}).shape(), (Shape{6, 4}));
  EXPECT_EQ(t.view({6, 4}).data_ptr(), t.data_ptr());
  EXPECT_THROW(t.transpose(0, 2).view({24}), Error);  // strides forbid a view
  EXPECT_EQ(t.transpose(0, 2).reshape({24}).to_vector()[1], 12.0f);
  Tensor u = t.unsqueeze(1);
  EXPECT_EQ(u.shape(), (Shape{2, 1, 3, 4}));
  EXPECT_EQ(u.squeeze(1).shape(), (Shape{2, 3, 4}));
  Tensor p = t.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.to_vector()[1], 4.0f);  // p[0, 0, 1] = t[0, 1, 0]
  Tensor e = Tensor::from_vector({1, 2}, {2, 1}).expand({2, 3});
  EXPECT_EQ(e.strides(), (Shape{1, 0}));
  EXPECT_EQ(e.to_vector(), (std::vector<float>{1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(t.flatten(1).shape(), (Shape{2, 12}));
}

TEST(Tensor, PermuteElementOrder) {
  Tensor t = arange(0, 6).reshape({2, 3});
  // p[i, j] = t[j, i]
  EXPECT_EQ(t.permute({1, 0}).to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(Tensor, CloneIsIndependent) {
  Tensor a = ones({3});
  Tensor b = a.clone();
  b.fill_(2.0f);
  EXPECT_EQ(a.to_vector(), (std::vector<float>{1, 1, 1}));
}

TEST(Tensor, InPlaceUpdates) {
  Tensor a = Tensor::from_vector({1, 2, 3}, {3});
  a.add_(Tensor::from_vector({1, 1, 1}, {3}), 2.0f);
  EXPECT_EQ(a.to_vector(), (std::vector<float>{3, 4, 5}));
  a.mul_(0.5f);
  EXPECT_EQ(a.to_vector(), (std::vector<float>{1.5f, 2, 2.5f}));
  a.copy_(full({1}, 9.0f));  // broadcast copy
  EXPECT_EQ(a.to_vector(), (std::vector<float>{9, 9, 9}));
  Tensor m = zeros({2, 2});
  m.t().copy_(Tensor::from_vector({1, 2, 3, 4}, {2, 2}));
  EXPECT_EQ(m.to_vector(), (std::vector<float>{1, 3, 2, 4}));
}

TEST(Tensor, Printing) {
  Tensor t = Tensor::from_vector({1, 2.5f, 3, 4}, {2, 2});
  EXPECT_EQ(t.str(), "tensor([[1, 2.5],\n        [3, 4]], shape=[2, 2])");
  EXPECT_EQ(full({}, 2.0f).str(), "tensor(2, shape=[])");
  std::string long_row = arange(0, 10).str();
  EXPECT_NE(long_row.find("..."), std::string::npos);
}

TEST(Tensor, ErrorsNameWhatWasWrong) {
  try {
    Tensor::from_vector({1, 2, 3}, {2, 2});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "from_vector: expected 4 values for shape [2, 2], got 3");
  }
  EXPECT_THROW(zeros({2, 3}).reshape({4, 2}), Error);
  EXPECT_THROW(zeros({2, 3}).transpose(0, 2), Error);
  EXPECT_THROW(zeros({2, 3}).size(2), Error);
  EXPECT_THROW(zeros({2, 3}).item(), Error);
  EXPECT_THROW(zeros({2}).expand({3}), Error);
  EXPECT_THROW(zeros({2}).permute({0, 0}), Error);
  EXPECT_THROW(Tensor().shape(), Error);
  EXPECT_THROW(Device::parse("gpu"), Error);
  if (!cuda_is_available()) {
    EXPECT_THROW(zeros({2}, Device::cuda()), Error);
  }
}

TEST(Tensor, InPlaceUpdateFromAnOverlappingViewOfItself) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  a.add_(a.t());  // reads a's own storage transposed: must act as if out of place
  EXPECT_EQ(a.to_vector(), (std::vector<float>{2, 5, 5, 8}));
  Tensor b = Tensor::from_vector({1, 2, 3}, {3});
  b.mul_(b);
  EXPECT_EQ(b.to_vector(), (std::vector<float>{1, 4, 9}));
  Tensor c = Tensor::from_vector({1, 2}, {2});
  c.copy_(c);
  EXPECT_EQ(c.to_vector(), (std::vector<float>{1, 2}));
}

TEST(Tensor, CopyFromAnotherLayoutOfTheSameMemoryReadsTheOldValues) {
  // As PyTorch: the result of copying from a temporary (by hand), not a half-overwritten source.
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3});
  x.copy_(x.t());
  EXPECT_EQ(x.to_vector(), (std::vector<float>{1, 4, 7, 2, 5, 8, 3, 6, 9}));
  Tensor b = Tensor::from_vector({1, 2, 3, 4, 5}, {5});
  b.slice(0, 1, 5).copy_(b.slice(0, 0, 4));
  EXPECT_EQ(b.to_vector(), (std::vector<float>{1, 1, 2, 3, 4}));
  Tensor c = Tensor::from_vector({1, 2, 3, 4, 5}, {5});
  c.slice(0, 0, 4).copy_(c.slice(0, 1, 5));
  EXPECT_EQ(c.to_vector(), (std::vector<float>{2, 3, 4, 5, 5}));
  Tensor d = Tensor::from_vector({1, 2, 3, 4}, {4});  // disjoint halves of one storage
  d.slice(0, 2, 4).copy_(d.slice(0, 0, 2));
  EXPECT_EQ(d.to_vector(), (std::vector<float>{1, 2, 1, 2}));
  Tensor e = Tensor::from_vector({1, 2, 3, 4, 5}, {5});
  e.slice(0, 1, 5).add_(e.slice(0, 0, 4));
  EXPECT_EQ(e.to_vector(), (std::vector<float>{1, 3, 5, 7, 9}));
}

TEST(Tensor, WritesThroughRepeatedElementsAreRefused) {
  // Several elements of an expanded tensor are one memory location: a copy or an add into it
  // would keep only the last value (PyTorch refuses the same).
  Tensor b = zeros({1});
  for (auto write : std::vector<std::function<void()>>{
           [&] { b.expand({3}).copy_(Tensor::from_vector({1, 2, 3}, {3})); },
           [&] { b.expand({3}).add_(Tensor::from_vector({1, 2, 3}, {3})); },
           [&] { b.expand({3}).mul_(Tensor::from_vector({1, 2, 3}, {3})); }}) {
    try {
      write();
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("more than one element of the written tensor"), std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(b.item(), 0.0f);
  b.expand({3}).fill_(2.0f);  // one value for every element: fine
  EXPECT_EQ(b.item(), 2.0f);
}

TEST(Tensor, TakeRowsIntoItsOwnMemoryReadsTheOldRows) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3});
  ops::take_rows_into(x, std::vector<int64_t>{2, 1, 0}, x);
  EXPECT_EQ(x.to_vector(), (std::vector<float>{7, 8, 9, 4, 5, 6, 1, 2, 3}));
  Tensor y = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8}, {4, 2});
  ops::take_rows_into(y, std::vector<int64_t>{0, 1, 2}, y.slice(0, 1, 4));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1, 2, 1, 2, 3, 4, 5, 6}));
}

TEST(Tensor, AxisOpsOnZeroDimensionalTensorsAndHugeArguments) {
  const Tensor s = full({}, 1.0f);
  const auto fails_with = [](auto&& f, const std::string& want) {
    try {
      f();
      ADD_FAILURE() << "expected an error containing '" << want << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  fails_with([&] { (void)s.size(0); }, "size: expected a tensor with at least 1 dimension");
  fails_with([&] { (void)s.size(-1); }, "size: expected a tensor with at least 1 dimension");
  fails_with([&] { (void)s.slice(0, 0, 1); }, "slice: expected a tensor with at least 1 dimension");
  fails_with([&] { (void)s.narrow(0, 0, 1); }, "narrow: expected a tensor with at least 1 dimension");
  EXPECT_EQ(s.squeeze(0).shape(), Shape{});  // as PyTorch: the tensor unchanged
  EXPECT_EQ(s.squeeze(-1).item(), 1.0f);
  fails_with([&] { (void)s.squeeze(1); }, "squeeze: expected axis in [-1, 0], got 1");

  const Tensor a = arange(0, 6).reshape({2, 3});
  const int64_t huge = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(a.slice(1, 0, 3, huge).shape(), (Shape{2, 1}));  // one element: no overflow
  EXPECT_EQ(a.slice(1, 0, 3, huge).to_vector(), (std::vector<float>{0, 3}));
  EXPECT_EQ(a.slice(1, std::numeric_limits<int64_t>::min(), huge).shape(), (Shape{2, 3}));
  fails_with([&] { (void)a.narrow(1, 1, huge); }, "narrow: expected [start, start + length) within [0, 3]");
  fails_with([&] { (void)Tensor::from_vector({7}, {1}).expand({-5}); }, "expand: expected sizes >= 0");
  fails_with([&] { (void)a.expand({2, -3}); }, "expand: expected sizes >= 0");
  fails_with([&] { (void)arange(0, 1e30f); }, "arange: expected fewer than 2^62 elements");
  fails_with([&] { (void)arange(0, INFINITY); }, "arange: expected a finite start and end");
  fails_with([&] { (void)Device::parse("cuda:99999999999999"); }, "device: expected 'cpu', 'cuda' or 'cuda:N'");
}

// Shapes whose element count overflows int64 were wrapped into small allocations that
// later writes ran past (heap corruption); they are now a clear error.
TEST(Tensor, ShapeWhoseElementCountOverflowsIsRejected) {
  const int64_t big = int64_t{1} << 62;
  try {
    empty({big, 1, 28, 28});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("[4611686018427387904, 1, 28, 28]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("overflows int64"), std::string::npos) << msg;
  }
  EXPECT_THROW(numel_of({big, 4}), Error);
  EXPECT_THROW(empty({0, big, big}), Error);  // no elements, but its strides would overflow
  EXPECT_THROW(numel_of({2, -3}), Error);
  EXPECT_EQ(numel_of({big, 1}), big);
  EXPECT_EQ(numel_of({0, 5}), 0);
}

// An allocation the machine cannot satisfy is a qtorch::Error, not std::bad_alloc.
TEST(Tensor, AllocationFailureIsAClearError) {
  try {
    empty({int64_t{1} << 50});  // 4 PiB: more than any address space holds
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("Storage:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("1125899906842624 floats"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cpu"), std::string::npos) << msg;
  }
  EXPECT_THROW(empty({int64_t{1} << 61}), Error);  // bytes overflow size_t
}

// A tensor without elements is contiguous whatever its zero-sized shape (as in PyTorch).
TEST(Tensor, EmptyTensorsAreContiguous) {
  EXPECT_TRUE(empty({3, 1, 0, 0}).is_contiguous());
  EXPECT_TRUE(empty({0, 5}).is_contiguous());
}
