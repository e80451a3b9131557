// CPU vs GPU for max/avg pooling forward and backward (bit for bit: the GPU gathers in
// the CPU's order, and the indices follow the same first-maximum and NaN rules) and for
// the Philox random fills (uniform bit for bit; normal within 1e-5, since CUDA's
// logf/cosf differ from libm by an ulp or two).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/core/generator.h"
#include "qtorch/core/ops.h"
#include "qtorch/qtorch.h"
#include "tests/cuda/parity.h"

using namespace qtorch;
using parity::kGpu;

namespace {

const Pool2dParams kPools[] = {
    {.kernel_h = 2, .kernel_w = 2},                                   // LeNet
    {.kernel_h = 3, .kernel_w = 3, .stride_h = 1, .stride_w = 1},     // overlapping
    {.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1},
    {.kernel_h = 5, .kernel_w = 5, .stride_h = 3, .stride_w = 2, .pad_h = 2, .pad_w = 2},
};

}  // namespace

TEST(CudaPool, MaxPoolForwardBackwardExact) {
  QTORCH_REQUIRE_CUDA();
  uint32_t seed = 1;
  for (const auto& o : kPools) {
    // Coarse values so windows hold ties; one NaN.
    std::vector<float> v = parity::random_cpu({3, 4, 13, 11}, seed++, -3, 3).to_vector();
    for (float& x : v) x = std::round(x);
    v[40] = std::nanf("");
    Tensor x = Tensor::from_vector(v, {3, 4, 13, 11});
    std::string what = "max_pool k" + std::to_string(o.kernel_h) + "x" + std::to_string(o.kernel_w);
    auto [y, idx] = ops::max_pool2d(x, o);
    auto [yg, idxg] = ops::max_pool2d(x.to(kGpu), o);
    parity::expect_same_bits(y, yg, what + " values", true);
    parity::expect_same_bits(idx, idxg, what + " indices");
    Tensor dy = parity::random_cpu(y.shape(), seed++);
    parity::expect_same_bits(ops::max_pool2d_backward(dy, idx, x.shape(), o),
                             ops::max_pool2d_backward(dy.to(kGpu), idxg, x.shape(), o),
                             what + " backward");
  }
}

TEST(CudaPool, AvgPoolForwardBackwardExact) {
  QTORCH_REQUIRE_CUDA();
  uint32_t seed = 100;
  for (const auto& o : kPools) {
    Tensor x = parity::random_cpu({2, 3, 12, 10}, seed++);
    std::string what = "avg_pool k" + std::to_string(o.kernel_h) + "x" + std::to_string(o.kernel_w);
    Tensor y = ops::avg_pool2d(x, o);
    parity::expect_same_bits(y, ops::avg_pool2d(x.to(kGpu), o), what);
    Tensor dy = parity::random_cpu(y.shape(), seed++);
    parity::expect_same_bits(ops::avg_pool2d_backward(dy, x.shape(), o),
                             ops::avg_pool2d_backward(dy.to(kGpu), x.shape(), o), what + " backward");
  }
}

TEST(CudaRandom, UniformBitsEqualTheCpu) {
  QTORCH_REQUIRE_CUDA();
  for (int64_t n : {int64_t{1}, int64_t{5}, int64_t{1003}, int64_t{1} << 20}) {
    for (uint64_t offset : {uint64_t{0}, uint64_t{7}, (uint64_t{1} << 32) + 3}) {
      Tensor c = empty({n}), g = empty({n}, kGpu);
      backend_for(Device::cpu()).random_uniform(c, 0x1234567890abcdefULL, offset);
      backend_for(kGpu).random_uniform(g, 0x1234567890abcdefULL, offset);
      parity::expect_same_bits(c, g, "uniform n=" + std::to_string(n) + " offset=" + std::to_string(offset));
    }
  }
  // A strided destination gets element i of the stream in row-major order.
  Tensor big = zeros({20, 30}, kGpu);
  Tensor view = big.slice(1, 0, 30, 3);  // [20, 10]
  backend_for(kGpu).random_uniform(view, 5, 9);
  Tensor ref = empty({20, 10});
  backend_for(Device::cpu()).random_uniform(ref, 5, 9);
  parity::expect_same_bits(ref, view.contiguous(), "uniform into a strided view");
  // The global generator: same seed, same tensor on both devices.
  manual_seed(42);
  Tensor rc = rand({333});
  manual_seed(42);
  Tensor rg = rand({333}, kGpu);
  parity::expect_same_bits(rc, rg, "rand() after manual_seed");
}

TEST(CudaRandom, NormalMatchesTheCpuClosely) {
  QTORCH_REQUIRE_CUDA();
  Tensor c = empty({100003}), g = empty({100003}, kGpu);
  backend_for(Device::cpu()).random_normal(c, 77, 123);
  backend_for(kGpu).random_normal(g, 77, 123);
  parity::expect_close(c, g, 1e-5f, 1e-5f, "normal");
  manual_seed(3);
  Tensor rc = randn({64, 64});
  manual_seed(3);
  parity::expect_close(rc, randn({64, 64}, kGpu), 1e-5f, 1e-5f, "randn() after manual_seed");
}
