// CPU vs GPU for matmul (cuBLAS by operand swap: plain, transposed views, batched,
// broadcast batch, degenerate sizes) and convolution (im2col/col2im bit for bit; the
// GEMM-based forward and both backward passes within 1e-5 of the magnitude scale
// |a| x |b|, since OpenBLAS and cuBLAS sum in different orders).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/core/ops.h"
#include "qtorch/qtorch.h"
#include "tests/cuda/parity.h"

using namespace qtorch;
using parity::kGpu;

namespace {

Tensor abs_of(const Tensor& x) { return ops::unary(UnaryOp::Abs, x); }

/// |gpu - cpu| <= 1e-5 * scale + 1e-6, where scale is the same product of magnitudes.
void expect_product_close(const Tensor& cpu, const Tensor& gpu, const Tensor& scale,
                          const std::string& what) {
  ASSERT_EQ(cpu.shape(), gpu.shape()) << what;
  std::vector<float> a = cpu.to_vector(), b = gpu.to_vector(), s = scale.to_vector();
  int bad = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::fabs(a[i] - b[i]) <= 1e-5f * s[i] + 1e-6f) && bad++ < 5)
      ADD_FAILURE() << what << ": element " << i << " cpu " << a[i] << " gpu " << b[i]
                    << " scale " << s[i];
  EXPECT_EQ(bad, 0) << what;
}

void check_matmul(const Tensor& a, const Tensor& b, const std::string& what) {
  Tensor c = ops::matmul(a, b);
  Tensor g = ops::matmul(a.to(kGpu), b.to(kGpu));
  expect_product_close(c, g, ops::matmul(abs_of(a), abs_of(b)), what);
}

}  // namespace

TEST(CudaMatmul, PlainShapes) {
  QTORCH_REQUIRE_CUDA();
  uint32_t seed = 1;
  for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {7, 13, 5}, {128, 784, 256},
                         {64, 1, 33}, {1, 300, 1}, {1000, 10, 3}}) {
    Tensor a = parity::random_cpu({m, k}, seed++), b = parity::random_cpu({k, n}, seed++);
    check_matmul(a, b, "matmul " + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n));
  }
}

TEST(CudaMatmul, TransposedOperandsUseFlagsNotCopies) {
  QTORCH_REQUIRE_CUDA();
  Tensor at = parity::random_cpu({96, 64}, 11);   // a = at.t(): [64, 96]
  Tensor bt = parity::random_cpu({40, 96}, 12);   // b = bt.t(): [96, 40]
  Tensor a = parity::random_cpu({64, 96}, 13), b = parity::random_cpu({96, 40}, 14);
  for (int mode = 0; mode < 4; ++mode) {
    Tensor x = mode & 1 ? at : a, y = mode & 2 ? bt : b;
    Tensor xc = mode & 1 ? x.t() : x, yc = mode & 2 ? y.t() : y;
    Tensor c = ops::matmul(xc, yc);
    Tensor xg = x.to(kGpu), yg = y.to(kGpu);
    Tensor g = ops::matmul(mode & 1 ? xg.t() : xg, mode & 2 ? yg.t() : yg);
    expect_product_close(c, g, ops::matmul(abs_of(xc), abs_of(yc)),
                         "matmul trans_a=" + std::to_string(mode & 1) + " trans_b=" +
                             std::to_string((mode >> 1) & 1));
  }
}

TEST(CudaMatmul, BatchedAndBroadcastBatches) {
  QTORCH_REQUIRE_CUDA();
  check_matmul(parity::random_cpu({4, 7, 13}, 21), parity::random_cpu({4, 13, 5}, 22), "batched");
  check_matmul(parity::random_cpu({7, 13}, 23), parity::random_cpu({3, 13, 5}, 24), "broadcast a");
  check_matmul(parity::random_cpu({2, 1, 7, 13}, 25), parity::random_cpu({3, 13, 5}, 26),
               "broadcast both");
  Tensor bt = parity::random_cpu({4, 5, 13}, 27);
  Tensor a = parity::random_cpu({4, 7, 13}, 28);
  Tensor c = ops::matmul(a, bt.transpose(1, 2));
  Tensor g = ops::matmul(a.to(kGpu), bt.to(kGpu).transpose(1, 2));
  expect_product_close(c, g, ops::matmul(abs_of(a), abs_of(bt).transpose(1, 2)),
                       "batched transposed b");
}

TEST(CudaMatmul, GemmBetaAndEmptyK) {
  QTORCH_REQUIRE_CUDA();
  // Direct backend call: C = 0.5 * A B + 2 * C, with padded leading dimensions.
  const int64_t m = 9, n = 6, k = 4, lda = 5, ldb = 8, ldc = 7;
  Tensor a = parity::random_cpu({m, lda}, 31), b = parity::random_cpu({k, ldb}, 32);
  Tensor c0 = parity::random_cpu({m, ldc}, 33);
  auto run = [&](Device d) {
    Tensor A = a.to(d), B = b.to(d), C = c0.to(d).clone();
    GemmArgs g;
    g.m = m, g.n = n, g.k = k, g.alpha = 0.5f, g.beta = 2.0f;
    g.a = A.data_ptr(), g.lda = lda, g.b = B.data_ptr(), g.ldb = ldb, g.c = C.data_ptr(), g.ldc = ldc;
    backend_for(d).gemm(g);
    return C;
  };
  parity::expect_close(run(Device::cpu()), run(kGpu), 1e-5f, 1e-5f, "gemm with beta and padding");
  Tensor e = ops::matmul(zeros({3, 0}, kGpu), zeros({0, 4}, kGpu));
  EXPECT_EQ(e.to_vector(), std::vector<float>(12, 0.0f));
}

namespace {

/// |gpu - ref| <= rtol * scale + 1e-6 elementwise, against a double-precision reference
/// (the CPU's float sums over a long K carry errors of their own).
void expect_near_reference(const Tensor& gpu, const std::vector<double>& ref, const std::vector<double>& scale,
                           double rtol, const std::string& what) {
  std::vector<float> g = gpu.to_vector();
  ASSERT_EQ(g.size(), ref.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < g.size(); ++i)
    if (!(std::fabs(g[i] - ref[i]) <= rtol * scale[i] + 1e-6) && bad++ < 5)
      ADD_FAILURE() << what << ": element " << i << " gpu " << g[i] << " reference " << ref[i] << " scale "
                    << scale[i];
  EXPECT_EQ(bad, 0) << what;
}

}  // namespace

TEST(CudaMatmul, SplitKSmallOutputLongKMatchesADoubleReference) {
  QTORCH_REQUIRE_CUDA();
  // A [6, 25] product over K = 300 123 (split into 256-aligned chunks and a remainder) and
  // over K = 65 536 (the smallest split, no remainder): every transpose, padded leading
  // dimensions, alpha and beta.
  const int64_t m = 6, n = 25;
  uint32_t seed = 300;
  for (int64_t k : {int64_t{300123}, int64_t{65536}})
    for (int mode = 0; mode < 4; ++mode)
      for (float beta : {0.0f, 0.5f}) {
        const bool ta = mode & 1, tb = mode & 2;
        const int64_t lda = ta ? m + 3 : k + 5, ldb = tb ? k + 2 : n + 4, ldc = n + 1;
        Tensor a = parity::random_cpu({ta ? k : m, lda}, seed++), b = parity::random_cpu({tb ? n : k, ldb}, seed++);
        Tensor c0 = parity::random_cpu({m, ldc}, seed++);
        std::vector<float> av = a.to_vector(), bv = b.to_vector(), cv = c0.to_vector();
        const float alpha = 0.5f;
        std::vector<double> ref, scale;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double sum = 0, mag = 0;
            for (int64_t t = 0; t < k; ++t) {
              const double x = av[static_cast<size_t>(ta ? t * lda + i : i * lda + t)];
              const double y = bv[static_cast<size_t>(tb ? j * ldb + t : t * ldb + j)];
              sum += x * y;
              mag += std::fabs(x * y);
            }
            const double c = cv[static_cast<size_t>(i * ldc + j)];
            ref.push_back(alpha * sum + beta * c);
            scale.push_back(alpha * mag + std::fabs(beta * c));
          }
        Tensor A = a.to(kGpu), B = b.to(kGpu), C = c0.to(kGpu).clone();
        GemmArgs g;
        g.trans_a = ta, g.trans_b = tb, g.m = m, g.n = n, g.k = k, g.alpha = alpha, g.beta = beta;
        g.a = A.data_ptr(), g.lda = lda, g.b = B.data_ptr(), g.ldb = ldb, g.c = C.data_ptr(), g.ldc = ldc;
        backend_for(kGpu).gemm(g);
        Tensor out = C.narrow(1, 0, n).contiguous();
        const std::string what = "split-K k=" + std::to_string(k) + " mode " + std::to_string(mode) +
                                 " beta " + std::to_string(beta);
        expect_near_reference(out, ref, scale, 3e-5, what);
        // The padding column of C is not written.
        std::vector<float> cg = C.to_vector();
        for (int64_t i = 0; i < m; ++i)
          EXPECT_EQ(cg[static_cast<size_t>(i * ldc + n)], cv[static_cast<size_t>(i * ldc + n)]) << what;
      }
}

TEST(CudaConv, WeightGradientAtLargeBatchMatchesADoubleReference) {
  QTORCH_REQUIRE_CUDA();
  // LeNet's first layer at batch 96, by both algorithms: im2col's GEMM is [6, 25] over
  // K = 96 * 784, which takes the split-K path; the direct kernels sum 96 chunks of one sample.
  const int64_t batch = 96;
  Tensor x = parity::random_cpu({batch, 1, 28, 28}, 400), dy = parity::random_cpu({batch, 6, 28, 28}, 401);
  std::vector<float> xv = x.to_vector(), dyv = dy.to_vector();
  std::vector<double> ref, scale;
  for (int64_t o = 0; o < 6; ++o)
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t j = 0; j < 5; ++j) {
        double sum = 0, mag = 0;
        for (int64_t b = 0; b < batch; ++b)
          for (int64_t oh = 0; oh < 28; ++oh)
            for (int64_t ow = 0; ow < 28; ++ow) {
              const int64_t ih = oh + i - 2, iw = ow + j - 2;
              if (ih < 0 || ih >= 28 || iw < 0 || iw >= 28) continue;
              const double p = static_cast<double>(dyv[static_cast<size_t>(((b * 6 + o) * 28 + oh) * 28 + ow)]) *
                               xv[static_cast<size_t>((b * 28 + ih) * 28 + iw)];
              sum += p;
              mag += std::fabs(p);
            }
        ref.push_back(sum);
        scale.push_back(mag);
      }
  for (ConvAlgorithm a : {ConvAlgorithm::Im2col, ConvAlgorithm::Direct}) {
    const Conv2dParams opt{.pad_h = 2, .pad_w = 2, .algorithm = a};
    Tensor dwg = ops::conv2d_backward_weight(dy.to(kGpu), x.to(kGpu), {6, 1, 5, 5}, opt);
    expect_near_reference(dwg, ref, scale, 3e-5,
                          std::string("lenet conv1 weight gradient, batch 96, ") +
                              (a == ConvAlgorithm::Direct ? "direct" : "im2col"));
  }
}

// ---- convolution ----

namespace {

struct ConvCase {
  const char* name;
  int64_t n, c, h, w, o, kh, kw;
  Conv2dParams opt;
};

const ConvCase kConv[] = {
    {"lenet conv1", 8, 1, 28, 28, 6, 5, 5, {.pad_h = 2, .pad_w = 2}},
    {"lenet conv2", 8, 6, 14, 14, 16, 5, 5, {}},
    {"strided dilated grouped", 3, 4, 11, 9, 6, 3, 2,
     {.stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 2, .dil_h = 2, .dil_w = 1, .groups = 2}},
    {"1x1", 2, 5, 4, 4, 3, 1, 1, {}},
};

}  // namespace

TEST(CudaConv, Im2ColAndCol2ImAreExact) {
  QTORCH_REQUIRE_CUDA();
  uint32_t seed = 50;
  for (const ConvCase& cc : kConv) {
    Tensor x = parity::random_cpu({cc.n, cc.c, cc.h, cc.w}, seed++);
    Tensor wmeta = zeros({cc.o, cc.c / cc.opt.groups, cc.kh, cc.kw});
    Window2d g = ops::conv2d_geometry(x, wmeta, cc.opt);
    const int64_t rows = g.c * g.kh * g.kw, cols = g.n * g.out_h * g.out_w;
    for (int64_t grp = 0; grp < cc.opt.groups; ++grp) {
      Tensor col_c = empty({rows, cols}), col_g = empty({rows, cols}, kGpu);
      backend_for(Device::cpu()).im2col(x, cc.c, grp * g.c, g, col_c);
      backend_for(kGpu).im2col(x.to(kGpu), cc.c, grp * g.c, g, col_g);
      parity::expect_same_bits(col_c, col_g, std::string(cc.name) + " im2col");

      Tensor src = parity::random_cpu({rows, cols}, seed++);
      Tensor dx_c = parity::random_cpu(x.shape(), seed++);  // col2im adds into it
      Tensor dx_g = dx_c.to(kGpu);
      backend_for(Device::cpu()).col2im(src, cc.c, grp * g.c, g, dx_c);
      backend_for(kGpu).col2im(src.to(kGpu), cc.c, grp * g.c, g, dx_g);
      parity::expect_same_bits(dx_c, dx_g, std::string(cc.name) + " col2im");
    }
  }
}

TEST(CudaConv, ForwardAndBothBackwardPasses) {
  QTORCH_REQUIRE_CUDA();
  // The GPU by its own rule (the direct kernels for the LeNet shapes) and by im2col + GEMM.
  for (ConvAlgorithm a : {ConvAlgorithm::Auto, ConvAlgorithm::Im2col}) {
    uint32_t seed = 80;
    for (const ConvCase& cc : kConv) {
      const std::string name = std::string(cc.name) + (a == ConvAlgorithm::Auto ? "" : " (im2col)");
      Conv2dParams on_gpu = cc.opt;
      on_gpu.algorithm = a;
      Tensor x = parity::random_cpu({cc.n, cc.c, cc.h, cc.w}, seed++);
      Tensor w = parity::random_cpu({cc.o, cc.c / cc.opt.groups, cc.kh, cc.kw}, seed++);
      Tensor bias = parity::random_cpu({cc.o}, seed++);
      Tensor xg = x.to(kGpu), wg = w.to(kGpu);
      Tensor y = ops::conv2d(x, w, bias, cc.opt);
      Tensor yg = ops::conv2d(xg, wg, bias.to(kGpu), on_gpu);
      Tensor scale = ops::conv2d(abs_of(x), abs_of(w), abs_of(bias), cc.opt);
      expect_product_close(y, yg, scale, name + " forward");

      Tensor dy = parity::random_cpu(y.shape(), seed++);
      Tensor dx = ops::conv2d_backward_input(dy, w, x.shape(), cc.opt);
      Tensor dxg = ops::conv2d_backward_input(dy.to(kGpu), wg, x.shape(), on_gpu);
      expect_product_close(dx, dxg, ops::conv2d_backward_input(abs_of(dy), abs_of(w), x.shape(), cc.opt),
                           name + " backward input");
      Tensor dw = ops::conv2d_backward_weight(dy, x, w.shape(), cc.opt);
      Tensor dwg = ops::conv2d_backward_weight(dy.to(kGpu), xg, w.shape(), on_gpu);
      expect_product_close(dw, dwg, ops::conv2d_backward_weight(abs_of(dy), abs_of(x), w.shape(), cc.opt),
                           name + " backward weight");
    }
  }
}
