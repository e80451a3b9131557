// The elementwise kernels' iteration plans (core/cuda/strided_plan.h), checked on the host
// so they are tested without a GPU: axis merging, the dense flag and the offsets every
// thread computes, against offsets from each tensor's own shape and strides.
#include <gtest/gtest.h>

#include <vector>

#include "qtorch/core/cuda/strided_plan.h"
#include "qtorch/core/error.h"
#include "qtorch/qtorch.h"

using namespace qtorch;

namespace {

/// Offset of row-major index i of `shape` in a tensor with `strides`.
int64_t naive_offset(const Shape& shape, const Shape& strides, int64_t i) {
  int64_t off = 0;
  for (size_t d = shape.size(); d-- > 0;) {
    off += (i % shape[d]) * strides[d];
    i /= shape[d];
  }
  return off;
}

template <int N>
void expect_offsets_match(const Tensor* const (&ts)[N]) {
  cuda::StridedPlan<N> p = cuda::make_plan<N>(ts, "test");
  ASSERT_EQ(p.numel, ts[0]->numel());
  for (int64_t i = 0; i < p.numel; ++i) {
    int64_t off[N];
    cuda::plan_offsets(p, static_cast<uint32_t>(i), off);
    int64_t off64[N];
    cuda::plan_offsets(p, i, off64);
    for (int t = 0; t < N; ++t) {
      int64_t want = naive_offset(ts[0]->shape(), ts[t]->strides(), i);
      ASSERT_EQ(off[t], want) << "tensor " << t << " index " << i;
      ASSERT_EQ(off64[t], want) << "tensor " << t << " index " << i << " (64-bit)";
    }
  }
}

}  // namespace

TEST(CudaStridedPlan, DenseTensorsMergeToOneAxis) {
  Tensor a = zeros({4, 5, 6}), b = zeros({4, 5, 6});
  const Tensor* ts[2] = {&a, &b};
  cuda::StridedPlan<2> p = cuda::make_plan<2>(ts, "test");
  EXPECT_EQ(p.ndim, 1);
  EXPECT_EQ(p.size[0], 120);
  EXPECT_TRUE(p.contiguous);
  expect_offsets_match<2>(ts);
}

TEST(CudaStridedPlan, TransposedAndBroadcastInputsAreNotDense) {
  Tensor out = zeros({5, 4}), x = zeros({4, 5}).t();
  const Tensor* ts[2] = {&out, &x};
  cuda::StridedPlan<2> p = cuda::make_plan<2>(ts, "test");
  EXPECT_EQ(p.ndim, 2);
  EXPECT_FALSE(p.contiguous);
  expect_offsets_match<2>(ts);

  Tensor o3 = zeros({64, 7, 5});
  Tensor a = zeros({64, 1, 5}).expand({64, 7, 5}), b = zeros({1, 7, 5}).expand({64, 7, 5});
  const Tensor* t3[3] = {&o3, &a, &b};
  cuda::StridedPlan<3> p3 = cuda::make_plan<3>(t3, "test");
  EXPECT_FALSE(p3.contiguous);
  expect_offsets_match<3>(t3);

  // A bias row broadcast over a batch: two axes, the bias stride 0 on the outer one.
  Tensor o2 = zeros({8, 16}), bias = zeros({16}).expand({8, 16});
  const Tensor* t2[2] = {&o2, &bias};
  cuda::StridedPlan<2> pb = cuda::make_plan<2>(t2, "test");
  EXPECT_EQ(pb.ndim, 2);
  EXPECT_EQ(pb.stride[1][0], 0);
  expect_offsets_match<2>(t2);
}

TEST(CudaStridedPlan, StridedOutputSlicesAndScalars) {
  Tensor big = zeros({6, 10});
  Tensor out = big.slice(1, 1, 10, 3);  // [6, 3] with strides [10, 3]
  Tensor x = zeros({6, 3});
  const Tensor* ts[2] = {&out, &x};
  EXPECT_FALSE(cuda::make_plan<2>(ts, "test").contiguous);
  expect_offsets_match<2>(ts);

  Tensor s = zeros({}), s2 = zeros({1, 1});
  const Tensor* t1[1] = {&s};
  cuda::StridedPlan<1> p = cuda::make_plan<1>(t1, "test");
  EXPECT_EQ(p.ndim, 0);
  EXPECT_EQ(p.numel, 1);
  EXPECT_TRUE(p.contiguous);
  const Tensor* t2[1] = {&s2};
  expect_offsets_match<1>(t2);
}

TEST(CudaStridedPlan, UpToTenUnmergeableAxes) {
  Shape s9 = {2, 3, 2, 3, 2, 3, 2, 3, 2};
  Tensor out = zeros(s9);
  Tensor a = zeros({2, 1, 2, 1, 2, 1, 2, 1, 2}).expand(s9);
  const Tensor* ts[2] = {&out, &a};
  EXPECT_EQ(cuda::make_plan<2>(ts, "test").ndim, 9);
  expect_offsets_match<2>(ts);

  Shape s11 = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
  Tensor o11 = zeros(s11);
  Tensor b = zeros({2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2}).expand(s11);
  Tensor c = zeros({1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1}).expand(s11);
  const Tensor* t11[3] = {&o11, &b, &c};
  EXPECT_THROW(cuda::make_plan<3>(t11, "test"), Error);
}

TEST(CudaStridedPlan, ShapeMismatchIsAnError) {
  Tensor a = zeros({3, 4}), b = zeros({4, 3});
  const Tensor* ts[2] = {&a, &b};
  EXPECT_THROW(cuda::make_plan<2>(ts, "test"), Error);
}
