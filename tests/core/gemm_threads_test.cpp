// The CPU GEMM splits a product into blocks of C's rows by its shape only: the same bits on any
// thread count, and split and unsplit products against a naive double-precision product.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/qtorch.h"

using namespace qtorch;

namespace {

// op(A)[m, k] * op(B)[k, n] in double, from row-major buffers holding A or A^T and B or B^T.
std::vector<double> naive_gemm(const std::vector<float>& a, bool ta, const std::vector<float>& b, bool tb,
                               int64_t m, int64_t n, int64_t k) {
  std::vector<double> c(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t t = 0; t < k; ++t)
        s += double(ta ? a[t * m + i] : a[i * k + t]) * double(tb ? b[j * k + t] : b[t * n + j]);
      c[i * n + j] = s;
    }
  return c;
}

struct Case {
  const char* what;
  int64_t m, n, k;
  bool ta, tb;
};

// Training-sized products, with and without transposed operands. Those with 128 rows or more and
// 2^20 multiply-adds or more are split into row blocks; the others are one call, which OpenBLAS
// must not thread either.
const Case kCases[] = {
    {"rows split (MLP forward)", 128, 256, 784, false, true},
    {"rows split (linear dW = g^T x)", 256, 784, 128, true, false},
    {"rows split, odd sizes", 197, 61, 301, false, false},
    {"rows split (conv input gradient)", 150, 12800, 16, true, false},
    {"few rows (conv forward)", 16, 12800, 150, false, false},
    {"few rows, B transposed", 6, 5000, 40, false, true},
    {"few rows, long inner dimension (conv dW)", 16, 150, 12800, false, true},
    {"few rows, long inner dimension, A transposed", 6, 25, 20000, true, false},
    {"just above OpenBLAS's threading threshold (2^18)", 64, 64, 65, false, false},
    {"just below it: one plain call", 64, 64, 63, false, true},
    {"small", 10, 10, 10, false, false},
};

std::vector<float> run_gemm(const Case& c, const std::vector<float>& a, const std::vector<float>& b,
                            float beta, const std::vector<float>& c0) {
  std::vector<float> out = c0;
  GemmArgs g;
  g.trans_a = c.ta;
  g.trans_b = c.tb;
  g.m = c.m;
  g.n = c.n;
  g.k = c.k;
  g.a = a.data();
  g.lda = c.ta ? c.m : c.k;
  g.b = b.data();
  g.ldb = c.tb ? c.k : c.n;
  g.c = out.data();
  g.ldc = c.n;
  g.beta = beta;
  backend_for(Device::cpu()).gemm(g);
  return out;
}

std::vector<float> random_vector(int64_t n) { return randn({n}).to_vector(); }

class GemmThreads : public ::testing::Test {
 protected:
  void TearDown() override { set_num_threads(saved_); }
  int saved_ = get_num_threads();
};

}  // namespace

TEST_F(GemmThreads, SameBitsOnOneToFourThreads) {
  manual_seed(11);
  for (const Case& c : kCases) {
    std::vector<float> a = random_vector(c.m * c.k), b = random_vector(c.k * c.n), zero(c.m * c.n, 0.0f);
    set_num_threads(1);
    const std::vector<float> one = run_gemm(c, a, b, 0.0f, zero);
    for (int threads : {2, 3, 4}) {
      set_num_threads(threads);
      const std::vector<float> many = run_gemm(c, a, b, 0.0f, zero);
      EXPECT_EQ(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)), 0)
          << c.what << ": " << threads << " threads differ from 1";
    }
  }
}

TEST_F(GemmThreads, SplitAndUnsplitMatchANaiveProduct) {
  manual_seed(12);
  set_num_threads(2);
  for (const Case& c : kCases) {
    std::vector<float> a = random_vector(c.m * c.k), b = random_vector(c.k * c.n), c0 = random_vector(c.m * c.n);
    const std::vector<double> ref = naive_gemm(a, c.ta, b, c.tb, c.m, c.n, c.k);
    // beta 0 never reads C: NaN there must not leak into the result.
    std::vector<float> nan_c(c0.size(), std::nanf(""));
    const std::vector<float> plain = run_gemm(c, a, b, 0.0f, nan_c);
    const std::vector<float> accumulated = run_gemm(c, a, b, 0.5f, c0);
    const double tol = 1e-5 * double(c.k) + 1e-4;  // float sums of k products of N(0, 1) values
    for (size_t i = 0; i < ref.size(); ++i) {
      ASSERT_NEAR(plain[i], ref[i], tol) << c.what << " at " << i;
      ASSERT_NEAR(accumulated[i], 0.5 * c0[i] + ref[i], tol) << c.what << " (beta 0.5) at " << i;
    }
  }
}

TEST_F(GemmThreads, BatchedMatmulAndConvolutionGradientsSameBits) {
  manual_seed(13);
  Tensor x = randn({3, 130, 200}), w = randn({200, 90});
  Tensor img = randn({32, 6, 14, 14}).requires_grad_(), kernel = randn({16, 6, 5, 5}).requires_grad_();
  auto run = [&](int threads) {
    set_num_threads(threads);
    img.zero_grad();
    kernel.zero_grad();
    Tensor y = conv2d(img, kernel);
    sum(y * y).backward();
    std::vector<float> out = matmul(x, w).to_vector(), gi = img.grad().to_vector(), gk = kernel.grad().to_vector();
    out.insert(out.end(), gi.begin(), gi.end());
    out.insert(out.end(), gk.begin(), gk.end());
    return out;
  };
  const std::vector<float> one = run(1), two = run(2);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i)
    if (std::memcmp(&one[i], &two[i], sizeof(float)) != 0) {
      ADD_FAILURE() << "first difference at " << i << " of " << one.size() << ": " << one[i] << " vs " << two[i];
      break;
    }
}
