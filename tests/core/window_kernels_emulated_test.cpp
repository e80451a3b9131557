// The CUDA backend's window kernels (core/cuda/window_kernels.cuh: im2col, col2im, max and
// average pooling and their gradients) run on the CPU through tests/support/cuda_emulation.h,
// launched by the library's own host code, against the CPU backend bit for bit: the shapes
// of tests/cuda (LeNet's convolutions and pooling, strides, dilation, groups, padding, 1x1),
// windows with ties and a NaN. tests/cuda runs the same kernels on a device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/core/ops.h"
#include "qtorch/qtorch.h"
#include "tests/support/cuda_emulation.h"
#include "tests/support/same_bits.h"
// After the emulation: the kernels see its CUDA keywords.
#include "qtorch/core/cuda/window_kernels.cuh"

using namespace qtorch;
namespace wk = qtorch::cuda::window_kernels;

namespace {
// The CPU backend's tensor against the kernel's array.
void expect_same_bits(const std::vector<float>& got, const Tensor& want, const std::string& what) {
  test_support::expect_same_bits(got, want.to_vector(), what);
}
}  // namespace

namespace {

Tensor random_tensor(const Shape& shape, uint32_t seed, bool coarse = false) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  std::vector<float> v(static_cast<size_t>(numel_of(shape)));
  for (float& e : v) e = coarse ? std::round(dist(rng)) : dist(rng);  // coarse: ties in windows
  return Tensor::from_vector(v, shape);
}

struct ConvCase {
  const char* name;
  int64_t n, c, h, w, o, kh, kw;
  Conv2dParams opt;
};

const ConvCase kConv[] = {
    {"lenet conv1", 2, 1, 28, 28, 6, 5, 5, {.pad_h = 2, .pad_w = 2}},
    {"lenet conv2", 2, 6, 14, 14, 16, 5, 5, {}},
    {"strided dilated grouped", 3, 4, 11, 9, 6, 3, 2,
     {.stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 2, .dil_h = 2, .dil_w = 1, .groups = 2}},
    {"1x1", 2, 5, 4, 4, 3, 1, 1, {}},
};

TEST(WindowKernelsEmulated, Im2colAndCol2imGiveTheCpuBits) {
  Backend& cpu = backend_for(Device::cpu());
  uint32_t seed = 50;
  for (const ConvCase& cc : kConv) {
    const Tensor x = random_tensor({cc.n, cc.c, cc.h, cc.w}, seed++);
    const Window2d g = ops::conv2d_geometry(x, zeros({cc.o, cc.c / cc.opt.groups, cc.kh, cc.kw}), cc.opt);
    const int64_t rows = g.c * g.kh * g.kw, cols = g.n * g.out_h * g.out_w;
    for (int64_t grp = 0; grp < cc.opt.groups; ++grp) {
      const std::string what = std::string(cc.name) + " group " + std::to_string(grp);
      Tensor col = empty({rows, cols});
      cpu.im2col(x, cc.c, grp * g.c, g, col);
      std::vector<float> got(static_cast<size_t>(rows * cols), -1.0f);
      wk::run_im2col(x.data_ptr(), cc.c, grp * g.c, g, got.data(), cuda_emulation::Launch{});
      expect_same_bits(got, col, what + " im2col");

      const Tensor src = random_tensor({rows, cols}, seed++);
      Tensor dx = random_tensor(x.shape(), seed++);  // col2im adds into it
      std::vector<float> dx_got = dx.to_vector();
      cpu.col2im(src, cc.c, grp * g.c, g, dx);
      wk::run_col2im(src.data_ptr(), cc.c, grp * g.c, g, dx_got.data(), cuda_emulation::Launch{});
      expect_same_bits(dx_got, dx, what + " col2im");
    }
  }
}

const Pool2dParams kPools[] = {
    {.kernel_h = 2, .kernel_w = 2},
    {.kernel_h = 3, .kernel_w = 3, .stride_h = 1, .stride_w = 1},
    {.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1},
    {.kernel_h = 5, .kernel_w = 5, .stride_h = 3, .stride_w = 2, .pad_h = 2, .pad_w = 2},
};

TEST(WindowKernelsEmulated, PoolingForwardAndBackwardGiveTheCpuBits) {
  uint32_t seed = 1;
  for (const Pool2dParams& o : kPools) {
    const std::string what = "k" + std::to_string(o.kernel_h) + "x" + std::to_string(o.kernel_w) + " s" +
                             std::to_string(o.stride_h) + "x" + std::to_string(o.stride_w) + " p" +
                             std::to_string(o.pad_h) + "x" + std::to_string(o.pad_w);
    // Max: coarse values, so windows hold ties, and one NaN.
    std::vector<float> v = random_tensor({3, 4, 13, 11}, seed++, true).to_vector();
    v[40] = std::nanf("");
    const Tensor x = Tensor::from_vector(v, {3, 4, 13, 11});
    const Window2d g = ops::pool2d_geometry(x, o, "max_pool2d");
    auto [y, idx] = ops::max_pool2d(x, o);
    std::vector<float> y_got(static_cast<size_t>(y.numel()), -1.0f), idx_got(y_got.size(), -1.0f);
    wk::run_max_pool(x.data_ptr(), g, y_got.data(), idx_got.data(), cuda_emulation::Launch{});
    expect_same_bits(y_got, y, "max_pool " + what);
    expect_same_bits(idx_got, idx, "max_pool " + what + " indices");
    const Tensor dy = random_tensor(y.shape(), seed++);
    std::vector<float> dx_got(static_cast<size_t>(x.numel()), -1.0f);
    wk::run_max_pool_backward(dy.data_ptr(), idx.data_ptr(), g, dx_got.data(), cuda_emulation::Launch{});
    expect_same_bits(dx_got, ops::max_pool2d_backward(dy, idx, x.shape(), o), "max_pool backward " + what);
    // Indices not from the forward pass: other positions, in the window (the gradient goes
    // there) or not, -1, a fraction, past the plane, NaN (no gradient).
    std::vector<float> odd = idx.to_vector();
    const float plane = static_cast<float>(g.h * g.w);
    for (size_t k = 0; k < odd.size(); ++k) {
      const float v = odd[k];
      switch (k % 9) {
        case 0: odd[k] = v > 0.0f ? v - 1.0f : v; break;  // the element before, maybe in the window
        case 1: odd[k] = std::fmod(v + plane / 2.0f, plane); break;
        case 2: odd[k] = -1.0f; break;
        case 3: odd[k] = v + 0.5f; break;
        case 4: odd[k] = plane + v; break;
        case 5: odd[k] = std::nanf(""); break;
        case 6: odd[k] = v + 2.0f; break;                            // two columns on
        case 7: odd[k] = v + static_cast<float>(g.w); break;        // the row below
        default: break;
      }
    }
    const Tensor odd_idx = Tensor::from_vector(odd, idx.shape());
    std::fill(dx_got.begin(), dx_got.end(), -1.0f);
    wk::run_max_pool_backward(dy.data_ptr(), odd_idx.data_ptr(), g, dx_got.data(), cuda_emulation::Launch{});
    const Tensor dx_odd = ops::max_pool2d_backward(dy, odd_idx, x.shape(), o);
    expect_same_bits(dx_got, dx_odd, "max_pool backward, other indices, " + what);
    // Independently: each output's gradient added where its index names a position of its window.
    std::vector<float> want(static_cast<size_t>(x.numel()), 0.0f);
    const std::vector<float> dyv = dy.to_vector();
    for (int64_t p = 0, k = 0; p < g.n * g.c; ++p)
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow, ++k) {
          const float at = odd[static_cast<size_t>(k)];
          if (!(at >= 0.0f && at < plane) || at != std::floor(at)) continue;
          const int64_t h = static_cast<int64_t>(at) / g.w, w = static_cast<int64_t>(at) % g.w;
          const int64_t h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
          if (h >= h0 && h < h0 + g.kh && w >= w0 && w < w0 + g.kw)
            want[static_cast<size_t>(p * g.h * g.w + static_cast<int64_t>(at))] += dyv[static_cast<size_t>(k)];
        }
    const std::vector<float> got_odd = dx_odd.to_vector();
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got_odd[i], want[i], 1e-5f) << what << " element " << i;

    // Average: the CPU zeroes the gradient, then adds.
    const Tensor xa = random_tensor({2, 3, 12, 10}, seed++);
    const Window2d ga = ops::pool2d_geometry(xa, o, "avg_pool2d");
    const Tensor ya = ops::avg_pool2d(xa, o);
    std::vector<float> ya_got(static_cast<size_t>(ya.numel()), -1.0f);
    wk::run_avg_pool(xa.data_ptr(), ga, ya_got.data(), cuda_emulation::Launch{});
    expect_same_bits(ya_got, ya, "avg_pool " + what);
    const Tensor dya = random_tensor(ya.shape(), seed++);
    std::vector<float> dxa_got(static_cast<size_t>(xa.numel()), 0.0f);
    wk::run_avg_pool_backward(dya.data_ptr(), ga, dxa_got.data(), cuda_emulation::Launch{});
    expect_same_bits(dxa_got, ops::avg_pool2d_backward(dya, xa.shape(), o), "avg_pool backward " + what);
  }
}

}  // namespace

// Geometry past int32 on tiny tensors: the launches chose int32 indices by element counts
// alone (audit s29), so col2im's h + pad summed past 2^31 and dropped a gradient term, and
// average pooling's kh * kw wrapped (a negative mean, or inf). They now count the geometry.
TEST(WindowKernelsEmulated, GeometryPastInt32TakesInt64Indices) {
  const Tensor x = Tensor::from_vector({10.0f, 20.0f}, {1, 1, 2, 1});
  const Tensor w = Tensor::from_vector({1.0f}, {1, 1, 1, 1});
  const Conv2dParams o{.stride_h = int64_t{1} << 30, .pad_h = (int64_t{1} << 31) - 1,
                       .algorithm = ConvAlgorithm::Im2col};
  const Window2d g = ops::conv2d_geometry(x, w, o);
  ASSERT_EQ(g.out_h, 4);  // output row 2 reads input row 1: 2 * 2^30 - (2^31 - 1) = 1
  std::vector<float> col(4, -1.0f);
  wk::run_im2col(x.data_ptr(), 1, 0, g, col.data(), cuda_emulation::Launch{});
  EXPECT_EQ(col, (std::vector<float>{0, 0, 20, 0}));
  const Tensor dcol = Tensor::from_vector({1, 2, 3, 4}, {1, 4});
  std::vector<float> dx(2, 0.0f);  // col2im adds into it
  wk::run_col2im(dcol.data_ptr(), 1, 0, g, dx.data(), cuda_emulation::Launch{});
  EXPECT_EQ(dx, (std::vector<float>{0, 3}));
  expect_same_bits(dx, ops::conv2d_backward_input(Tensor::from_vector({1, 2, 3, 4}, {1, 1, 4, 1}), w, x.shape(), o),
                   "col2im with padding 2^31 - 1");

  for (const int64_t k : {int64_t{46341}, int64_t{65536}}) {  // k * k wraps to a negative number, and to 0
    const Pool2dParams p{.kernel_h = k, .kernel_w = k, .pad_h = k / 2, .pad_w = k / 2};
    const Tensor one = ones({1, 1, 1, 1});
    const Window2d pg = ops::pool2d_geometry(one, p, "avg_pool2d");
    const float want = 1.0f / static_cast<float>(k * k);  // PyTorch 1.13: 4.656602881e-10, 2.328306437e-10
    std::vector<float> y(1, -1.0f), dy(1, 0.0f);  // the backward adds into dy
    wk::run_avg_pool(one.data_ptr(), pg, y.data(), cuda_emulation::Launch{});
    EXPECT_EQ(y[0], want) << k;
    expect_same_bits(y, ops::avg_pool2d(one, p), "avg_pool2d " + std::to_string(k));
    wk::run_avg_pool_backward(one.data_ptr(), pg, dy.data(), cuda_emulation::Launch{});
    EXPECT_EQ(dy[0], want) << k;
  }
}
