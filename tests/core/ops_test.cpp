// Primitive ops against hand-computed values and naive reference loops.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "qtorch/core/ops.h"
#include "qtorch/core/row_index.h"
#include "qtorch/qtorch.h"

using namespace qtorch;

namespace {
std::vector<float> naive_matmul(const std::vector<float>& a, const std::vector<float>& b, int m, int k, int n) {
  std::vector<float> c(m * n, 0.0f);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int t = 0; t < k; ++t) s += a[i * k + t] * b[t * n + j];
      c[i * n + j] = static_cast<float>(s);
    }
  return c;
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-4f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}
}  // namespace

TEST(Ops, BroadcastingArithmetic) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor row = Tensor::from_vector({10, 20, 30}, {3});
  Tensor col = Tensor::from_vector({100, 200}, {2, 1});
  EXPECT_EQ((a + row).to_vector(), (std::vector<float>{11, 22, 33, 14, 25, 36}));
  EXPECT_EQ((a * col).to_vector(), (std::vector<float>{100, 200, 300, 800, 1000, 1200}));
  EXPECT_EQ((row + col).shape(), (Shape{2, 3}));
  EXPECT_EQ((a - 1.0f).to_vector(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ((12.0f / a).to_vector(), (std::vector<float>{12, 6, 4, 3, 2.4f, 2}));
  EXPECT_EQ((a / 2.0f).to_vector(), (std::vector<float>{0.5f, 1, 1.5f, 2, 2.5f, 3}));
  EXPECT_EQ((a.t() + a.t()).to_vector(), (std::vector<float>{2, 8, 4, 10, 6, 12}));
  EXPECT_THROW(a + Tensor::from_vector({1, 2}, {2}), Error);
}

TEST(Ops, UnaryFunctions) {
  Tensor x = Tensor::from_vector({-2, -0.5f, 0, 1, 4}, {5});
  EXPECT_EQ(relu(x).to_vector(), (std::vector<float>{0, 0, 0, 1, 4}));
  EXPECT_EQ(abs(x).to_vector(), (std::vector<float>{2, 0.5f, 0, 1, 4}));
  EXPECT_EQ(clamp(x, -1, 1).to_vector(), (std::vector<float>{-1, -0.5f, 0, 1, 1}));
  EXPECT_EQ(pow(x, 2.0f).to_vector(), (std::vector<float>{4, 0.25f, 0, 1, 16}));
  expect_near(exp(x).to_vector(), {std::exp(-2.0f), std::exp(-0.5f), 1, std::exp(1.0f), std::exp(4.0f)});
  expect_near(sigmoid(x).to_vector(), {1 / (1 + std::exp(2.0f)), 1 / (1 + std::exp(0.5f)), 0.5f,
                                       1 / (1 + std::exp(-1.0f)), 1 / (1 + std::exp(-4.0f))});
  expect_near(tanh(x).to_vector(), {std::tanh(-2.0f), std::tanh(-0.5f), 0, std::tanh(1.0f), std::tanh(4.0f)});
  // The vectorised path for long contiguous tensors agrees with the scalar one.
  Tensor big = linspace(-5, 5, 10000);
  std::vector<float> e = exp(big).to_vector(), v = big.to_vector();
  for (size_t i = 0; i < v.size(); i += 997) EXPECT_NEAR(e[i], std::exp(v[i]), 1e-6f * std::exp(v[i]));
}

TEST(Ops, ComparisonsAndWhere) {
  Tensor a = Tensor::from_vector({1, 2, 3}, {3});
  Tensor b = Tensor::from_vector({3, 2, 1}, {3});
  EXPECT_EQ(gt(a, b).to_vector(), (std::vector<float>{0, 0, 1}));
  EXPECT_EQ(eq(a, b).to_vector(), (std::vector<float>{0, 1, 0}));
  EXPECT_EQ(le(a, b).to_vector(), (std::vector<float>{1, 1, 0}));
  EXPECT_EQ(where(gt(a, b), a, b).to_vector(), (std::vector<float>{3, 2, 3}));
  EXPECT_EQ(maximum(a, b).to_vector(), (std::vector<float>{3, 2, 3}));
}

TEST(Ops, Reductions) {
  Tensor t = arange(0, 24).reshape({2, 3, 4});
  EXPECT_FLOAT_EQ(sum(t).item(), 276.0f);
  EXPECT_EQ(sum(t, {0}).shape(), (Shape{3, 4}));
  EXPECT_EQ(sum(t, {0, 2}).to_vector(), (std::vector<float>{60, 92, 124}));
  EXPECT_EQ(sum(t, {-1}, true).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(mean(t, {2}).to_vector(), (std::vector<float>{1.5f, 5.5f, 9.5f, 13.5f, 17.5f, 21.5f}));
  EXPECT_EQ(max(t, {1}).to_vector(), (std::vector<float>{8, 9, 10, 11, 20, 21, 22, 23}));
  EXPECT_FLOAT_EQ(max(t).item(), 23.0f);
  Tensor s = Tensor::from_vector({1, 5, 5, 2, 9, 0}, {2, 3});
  EXPECT_EQ(argmax(s, 1).to_vector(), (std::vector<float>{1, 1}));  // first maximum wins
  EXPECT_EQ(argmax(s, 0, true).shape(), (Shape{1, 3}));
  EXPECT_EQ(sum(t.transpose(0, 2), {0}).to_vector(), sum(t, {2}).t().contiguous().to_vector());
  EXPECT_THROW(sum(t, {3}), Error);
  EXPECT_THROW(sum(t, {1, 1}), Error);
  EXPECT_THROW(max(zeros({0})), Error);
}

TEST(Ops, MatmulMatchesNaiveIncludingTransposedViews) {
  manual_seed(7);
  Tensor a = randn({5, 7}), b = randn({7, 3});
  std::vector<float> ref = naive_matmul(a.to_vector(), b.to_vector(), 5, 7, 3);
  expect_near(matmul(a, b).to_vector(), ref);
  Tensor at = a.t().contiguous().t();  // same values, column-major layout
  Tensor bt = b.t().contiguous().t();
  expect_near(matmul(at, bt).to_vector(), ref);
  expect_near(matmul(a.slice(1, 0, 7), b).to_vector(), ref);
  // Batched with a broadcast batch axis.
  Tensor ba = randn({2, 5, 7});
  Tensor out = matmul(ba, b);
  EXPECT_EQ(out.shape(), (Shape{2, 5, 3}));
  std::vector<float> bav = ba.to_vector();
  std::vector<float> second(bav.begin() + 35, bav.end());
  expect_near(out.slice(0, 1, 2).reshape({5, 3}).to_vector(), naive_matmul(second, b.to_vector(), 5, 7, 3));
  try {
    matmul(zeros({32, 784}), zeros({783, 256}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "matmul: expected [M, K] x [K, N], got [32, 784] x [783, 256]");
  }
}

TEST(Ops, SoftmaxRowsSumToOne) {
  Tensor x = Tensor::from_vector({1, 2, 3, 1000, 1000, 1000}, {2, 3});
  std::vector<float> s = softmax(x).to_vector();
  float e1 = std::exp(1.0f), e2 = std::exp(2.0f), e3 = std::exp(3.0f), z = e1 + e2 + e3;
  expect_near(s, {e1 / z, e2 / z, e3 / z, 1 / 3.0f, 1 / 3.0f, 1 / 3.0f}, 1e-6f);
  std::vector<float> ls = log_softmax(x).to_vector();
  EXPECT_NEAR(ls[0], 1 - std::log(z) - 0.0f, 1e-5f);
  EXPECT_NEAR(ls[3], -std::log(3.0f), 1e-5f);
  expect_near(softmax(x, 0).to_vector(), {0, 0, 0, 1, 1, 1}, 1e-6f);
}

TEST(Ops, Conv2dMatchesNaive) {
  manual_seed(3);
  const int N = 2, C = 4, H = 6, W = 5, O = 6, K = 3, groups = 2, stride = 2, pad = 1, dil = 1;
  Tensor x = randn({N, C, H, W}), w = randn({O, C / groups, K, K}), b = randn({O});
  Conv2dParams o{.stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad, .groups = groups};
  Tensor y = conv2d(x, w, b, o);
  int OH = (H + 2 * pad - dil * (K - 1) - 1) / stride + 1, OW = (W + 2 * pad - dil * (K - 1) - 1) / stride + 1;
  ASSERT_EQ(y.shape(), (Shape{N, O, OH, OW}));
  std::vector<float> xv = x.to_vector(), wv = w.to_vector(), bv = b.to_vector(), yv = y.to_vector();
  int cg = C / groups, og = O / groups;
  for (int n = 0; n < N; ++n)
    for (int oc = 0; oc < O; ++oc)
      for (int oh = 0; oh < OH; ++oh)
        for (int ow = 0; ow < OW; ++ow) {
          double s = bv[oc];
          int g = oc / og;
          for (int c = 0; c < cg; ++c)
            for (int i = 0; i < K; ++i)
              for (int j = 0; j < K; ++j) {
                int h = oh * stride - pad + i * dil, ww = ow * stride - pad + j * dil;
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                s += xv[((n * C + g * cg + c) * H + h) * W + ww] * wv[((oc * cg + c) * K + i) * K + j];
              }
          EXPECT_NEAR(yv[((n * O + oc) * OH + oh) * OW + ow], s, 1e-4) << n << " " << oc << " " << oh << " " << ow;
        }
  EXPECT_THROW(conv2d(zeros({1, 3, 5, 5}), zeros({2, 2, 3, 3})), Error);
}

TEST(Ops, Pooling) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {1, 1, 4, 4});
  EXPECT_EQ(max_pool2d(x, {.kernel_h = 2, .kernel_w = 2}).to_vector(), (std::vector<float>{6, 8, 14, 16}));
  EXPECT_EQ(avg_pool2d(x, {.kernel_h = 2, .kernel_w = 2}).to_vector(),
            (std::vector<float>{3.5f, 5.5f, 11.5f, 13.5f}));
  EXPECT_EQ(max_pool2d(x, {.kernel_h = 3, .kernel_w = 3, .stride_h = 1, .stride_w = 1}).to_vector(),
            (std::vector<float>{11, 12, 15, 16}));
  EXPECT_THROW(max_pool2d(zeros({1, 4, 4}), {}), Error);
}

TEST(Ops, AveragePoolDividesTheWindowSumByItsSize) {
  // As PyTorch: sum / 9, which differs in the last bit from sum * (1 / 9) for some sums.
  manual_seed(3);
  const Tensor x = randn({2, 3, 7, 7});
  const std::vector<float> v = x.to_vector();
  const std::vector<float> got = avg_pool2d(x, {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2}).to_vector();
  int differs_from_product = 0;
  for (int64_t p = 0; p < 6; ++p)
    for (int64_t oh = 0; oh < 3; ++oh)
      for (int64_t ow = 0; ow < 3; ++ow) {
        float sum = 0.0f;
        for (int64_t i = 0; i < 3; ++i)
          for (int64_t j = 0; j < 3; ++j) sum += v[(p * 7 + oh * 2 + i) * 7 + ow * 2 + j];
        const float want = sum / 9.0f;
        EXPECT_EQ(got[(p * 3 + oh) * 3 + ow], want);
        differs_from_product += want != sum * (1.0f / 9.0f);
      }
  EXPECT_GT(differs_from_product, 0);  // the case the division is for occurs here
  // Backward: each window's gradient share is g / 9.
  Tensor xg = x.detach().requires_grad_();
  Tensor y = avg_pool2d(xg, {.kernel_h = 3, .kernel_w = 3, .stride_h = 3, .stride_w = 3});
  y.backward(full(y.shape(), 1.1f));
  EXPECT_EQ(xg.grad().to_vector()[0], 1.1f / 9.0f);
}

// An input smaller than the window made (in - k) / stride + 1 truncate to 1: a 1x1 output
// whose 2x2 window read past the input (heap-buffer-overflow in max_pool_2x2).
TEST(Ops, WindowLargerThanInputIsRejected) {
  auto expect_error = [](auto&& f, const std::string& what) {
    try {
      f();
      ADD_FAILURE() << "expected an error: " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  const Pool2dParams k2{.kernel_h = 2, .kernel_w = 2};
  expect_error([&] { ops::max_pool2d(zeros({4, 6, 1, 1}), k2); },
               "max_pool2d: expected an input of at least 2x2 (padded by 0x0) for the 2x2 window, "
               "got input [4, 6, 1, 1]");
  expect_error([&] { ops::avg_pool2d(zeros({1, 1, 5, 1}), k2); }, "avg_pool2d: expected an input of at least 2x2");
  expect_error([&] { ops::max_pool2d_backward(zeros({1, 1, 1, 1}), zeros({1, 1, 1, 1}), {1, 1, 1, 1}, k2); },
               "got input [1, 1, 1, 1]");
  expect_error([&] { ops::pool2d_geometry(zeros({1, 1, 2, 2}), {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2}, "p"); },
               "p: expected an input of at least 3x3");
  expect_error([&] { conv2d(zeros({1, 1, 4, 4}), zeros({2, 1, 5, 5})); },
               "conv2d: expected an input of at least 5x5 (padded by 0x0) for the 5x5 window, got input [1, 1, 4, 4]");
  expect_error([&] { conv2d(zeros({1, 1, 3, 3}), zeros({2, 1, 3, 3}), Tensor(), {.dil_h = 2, .dil_w = 2}); },
               "for the 5x5 window");
  expect_error([&] { conv2d(zeros({1, 3, 4, 4}), zeros({2, 3, 0, 3})); },
               "conv2d: expected a kernel of at least 1x1, got weight [2, 3, 0, 3]");
  expect_error([&] { conv2d(zeros({1, 1, 3, 3}), zeros({2, 1, 3, 3}), Tensor(), {.pad_h = int64_t{1} << 62}); },
               "conv2d: expected kernel, padding, dilation and stride below 2^31");
  expect_error([&] { conv2d(zeros({1, 1, 3, 3}), zeros({2, 1, 3, 3}), Tensor(), {.dil_h = int64_t{1} << 62}); },
               "conv2d: expected kernel, padding, dilation and stride below 2^31");
  expect_error([&] { ops::max_pool2d(zeros({1, 1, 3, 3}), {.kernel_h = 2, .kernel_w = 2, .pad_h = int64_t{1} << 62}); },
               "max_pool2d: expected kernel >= 1, stride >= 0, 0 <= padding <= kernel/2");
  // The backward passes take grad_out (and indices) of the forward output's shape: others
  // read past them (audit s29).
  expect_error([&] { ops::max_pool2d_backward(ones({1, 1, 2, 2}), zeros({1, 1, 1, 1}), {1, 1, 4, 4}, k2); },
               "max_pool2d_backward: expected grad_out and indices [1, 1, 2, 2] for input [1, 1, 4, 4], got "
               "[1, 1, 2, 2] and [1, 1, 1, 1]");
  expect_error([&] { ops::max_pool2d_backward(ones({1, 1, 3, 2}), zeros({1, 1, 3, 2}), {1, 1, 4, 4}, k2); },
               "got [1, 1, 3, 2] and [1, 1, 3, 2]");
  expect_error([&] { ops::max_pool2d_backward(Tensor(), zeros({1, 1, 2, 2}), {1, 1, 4, 4}, k2); },
               "max_pool2d_backward: expected a defined grad_out and indices");
  expect_error([&] { ops::avg_pool2d_backward(Tensor(), {1, 1, 4, 4}, k2); },
               "avg_pool2d_backward: expected a defined grad_out");
  expect_error([&] { ops::conv2d_backward_input(Tensor(), ones({1, 1, 3, 3}), {1, 1, 5, 5}, {}); },
               "conv2d_backward_input: expected a defined grad_out and weight");
  expect_error([&] { ops::conv2d_backward_weight(ones({1, 1, 3, 3}), Tensor(), {1, 1, 3, 3}, {}); },
               "conv2d_backward_weight: expected a defined grad_out and input");
  expect_error([&] { ops::avg_pool2d_backward(ones({1, 1, 1, 1}), {1, 1, 4, 4}, k2); },
               "avg_pool2d_backward: expected grad_out [1, 1, 2, 2] for input [1, 1, 4, 4], got [1, 1, 1, 1]");
  // Exactly the window, or smaller but padded up to it, is fine.
  EXPECT_EQ(ops::max_pool2d(zeros({1, 1, 2, 2}), k2).first.shape(), (Shape{1, 1, 1, 1}));
  EXPECT_EQ(conv2d(zeros({1, 1, 3, 3}), zeros({2, 1, 5, 5}), Tensor(), {.pad_h = 1, .pad_w = 1}).shape(),
            (Shape{1, 2, 1, 1}));
}

TEST(Ops, DeviceMismatchAndEmptyChecks) {
  EXPECT_THROW(ops::check_nonempty("op", zeros({0, 3})), Error);
  EXPECT_THROW(mean(zeros({0})), Error);
}

TEST(Ops, MaxPoolTiesAndNaNMatchAReferenceScan) {
  // Small integers give many ties; the first maximum in scan order must win, a NaN wins over
  // everything (the first NaN, its payload kept), and of +0 and -0 the first one wins; on the
  // 2x2 fast path (planes of fewer and more outputs than a 16-float vector, odd sizes whose
  // last row or column no window reads, rows of one output) and the general path alike. The
  // output is one of its window's elements, so its bits are compared.
  const auto bits = [](float f) { return std::bit_cast<uint32_t>(f); };
  const std::vector<Shape> shapes = {{2, 3, 8, 6},  {1, 1, 2, 2},   {3, 2, 10, 10}, {2, 1, 9, 7},
                                     {1, 2, 28, 28}, {1, 1, 3, 35}, {1, 1, 34, 2},  {2, 2, 6, 33}};
  const std::vector<Pool2dParams> windows = {
      Pool2dParams{.kernel_h = 2, .kernel_w = 2},
      Pool2dParams{.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 1, .pad_h = 1}};
  manual_seed(11);
  int64_t checked = 0;
  for (const Shape& shape : shapes) {
    std::vector<float> v = (rand(shape) * 4.0f).to_vector();
    for (float& f : v) f = std::floor(f) - 1.0f;  // -1, 0, 1, 2: ties everywhere
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] == 0.0f && i % 3 == 0) v[i] = -0.0f;
      // NaNs with payload i, some beside another NaN in their row or column
      const size_t width = static_cast<size_t>(shape[3]);
      const auto nan = [&](size_t at) { v[at] = std::bit_cast<float>(0x7fc00000u + static_cast<uint32_t>(at)); };
      if (i % 41 == 7) nan(i);
      if (i % 41 == 7 && i % 2 == 0 && i + 1 < v.size()) nan(i + 1);
      if (i % 41 == 30 && i + width < v.size()) nan(i + width);
      if (i % 53 == 11) v[i] = i % 2 ? INFINITY : -INFINITY;
    }
    const Tensor x = Tensor::from_vector(v, shape);
    for (const Pool2dParams& o : windows) {
      auto [out, idx] = ops::max_pool2d(x, o);
      const Window2d g = ops::pool2d_geometry(x, o, "test");
      const std::vector<float> got = out.to_vector(), got_idx = idx.to_vector();
      for (int64_t p = 0; p < g.n * g.c; ++p)
        for (int64_t oh = 0; oh < g.out_h; ++oh)
          for (int64_t ow = 0; ow < g.out_w; ++ow) {
            float best = 0;
            int64_t at = -1;
            for (int64_t i = 0; i < g.kh; ++i)
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t h = oh * g.stride_h - g.pad_h + i, w = ow * g.stride_w - g.pad_w + j;
                if (h < 0 || h >= g.h || w < 0 || w >= g.w) continue;
                const float val = v[static_cast<size_t>(p * g.h * g.w + h * g.w + w)];
                if (at < 0 || (!std::isnan(best) && (val > best || std::isnan(val)))) {
                  best = val;
                  at = h * g.w + w;
                }
              }
            const size_t k = static_cast<size_t>((p * g.out_h + oh) * g.out_w + ow);
            EXPECT_EQ(bits(got[k]), bits(best)) << shape_str(shape) << " window " << o.kernel_h << " output " << k;
            EXPECT_EQ(got_idx[k], static_cast<float>(at)) << shape_str(shape) << " window " << o.kernel_h << " output " << k;
            ++checked;
          }
    }
  }
  EXPECT_GT(checked, 1000);
}

TEST(Ops, TakeRowsSelectsRowsInTheGivenOrder) {
  const Tensor x = Tensor::from_vector({0, 1, 10, 11, 20, 21, 30, 31}, {4, 2});
  EXPECT_EQ(ops::take_rows(x, {3, 0, 3, 1}).to_vector(), (std::vector<float>{30, 31, 0, 1, 30, 31, 10, 11}));
  EXPECT_EQ(ops::take_rows(x, {2}).shape(), (Shape{1, 2}));
  EXPECT_EQ(ops::take_rows(x, {}).shape(), (Shape{0, 2}));
  const Tensor labels = Tensor::from_vector({5, 6, 7}, {3});
  EXPECT_EQ(ops::take_rows(labels, {2, 2, 0}).to_vector(), (std::vector<float>{7, 7, 5}));
  try {
    ops::take_rows(x, {1, 4});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected row numbers in [0, 4), got 4 at position 1"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(ops::take_rows(x, {-1}), Error);
}

TEST(Ops, RowIndexIsCheckedOnceAndSlicedWithoutCopies) {
  const Tensor x = Tensor::from_vector({0, 1, 10, 11, 20, 21, 30, 31}, {4, 2});
  const ops::RowIndex order({3, 0, 2, 1}, 4, Device::cpu());
  EXPECT_EQ(order.size(), 4);
  Tensor out = empty({2, 2});
  ops::take_rows_into(x, order.slice(1, 2), out);  // rows 0 and 2
  EXPECT_EQ(out.to_vector(), (std::vector<float>{0, 1, 20, 21}));
  EXPECT_TRUE(order.slice(1, 2).values().storage() == order.values().storage());  // a view
  ops::take_rows_into(x, order.slice(4, 0), empty({0, 2}));
  // Bad rows when made; a slice past the end; an index made for another row count.
  EXPECT_THROW(ops::RowIndex({0, 4}, 4, Device::cpu()), Error);
  EXPECT_THROW(ops::RowIndex({0}, (int64_t{1} << 24) + 1, Device::cpu()), Error);
  EXPECT_THROW(order.slice(3, 2), Error);
  EXPECT_THROW(order.slice(-1, 1), Error);
  try {
    ops::take_rows_into(Tensor::from_vector({1, 2, 3}, {3}), order.slice(0, 1), empty({1}));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected an index of rows below 3 on cpu, got one of rows below 4"),
              std::string::npos)
        << e.what();
  }
}
