// Stochastic rounding: only the two neighbours appear, unbiased, grid values never move,
// reproducible by seed, independent of the thread count, fresh bits on every call.
#include <cmath>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/core/philox.h"
#include "qtorch/core/tensor.h"
#include "qtorch/core/threads.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/quant/quantizer.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

/// `draws` copies of x stacked on a new leading axis: one quantize call gives `draws`
/// independent draws of every element.
Tensor tiled(const std::vector<float>& x, const Shape& shape, int64_t draws) {
  std::vector<float> v;
  v.reserve(x.size() * static_cast<size_t>(draws));
  for (int64_t d = 0; d < draws; ++d) v.insert(v.end(), x.begin(), x.end());
  Shape s = shape;
  s.insert(s.begin(), draws);
  return Tensor::from_vector(v, s);
}

/// Mean squared error between x and the mean of its draws (the reference's statistic).
double expectation_error(const std::vector<float>& x, const std::vector<float>& y, int64_t draws) {
  std::vector<double> mean(x.size(), 0.0);
  for (int64_t d = 0; d < draws; ++d)
    for (size_t i = 0; i < x.size(); ++i) mean[i] += y[static_cast<size_t>(d) * x.size() + i];
  double err = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    double e = mean[i] / static_cast<double>(draws) - x[i];
    err += e * e;
  }
  return err / static_cast<double>(x.size());
}

std::vector<float> linspace_values(float a, float b, int64_t n) {
  return linspace(a, b, n).to_vector();
}

TEST(Stochastic, UnbiasedFixed) {
  manual_seed(11);
  auto x = linspace_values(-0.9f, 0.9f, 100);
  const int64_t draws = 100000;
  Tensor big = tiled(x, {100}, draws);
  auto y = fixed_point_quantize(big, 7, 6, true, false, Rounding::Stochastic).to_vector();
  EXPECT_LT(expectation_error(x, y, draws), 1e-6);
  // the same through the quantizer
  auto qf = quantizer({.forward_number = FixedPoint{.wl = 7, .fl = 6}});
  EXPECT_LT(expectation_error(x, qf(big).to_vector(), draws), 1e-6);
}

TEST(Stochastic, UnbiasedFloat) {
  manual_seed(12);
  auto x = rand({100}).to_vector();
  const int64_t draws = 100000;
  auto y = float_quantize(tiled(x, {100}, draws), 6, 5, Rounding::Stochastic).to_vector();
  EXPECT_LT(expectation_error(x, y, draws), 1e-6);
}

TEST(Stochastic, UnbiasedBlockEveryDim) {
  manual_seed(13);
  auto x = rand({4, 5, 5}).to_vector();
  const int64_t draws = 100000;
  for (int dim : {-1, 0, 1}) {
    // draws stacked on a new leading axis: block i of dim d + 1 (or the whole stack) holds
    // copies of block i of dim d (or of the whole tensor), so it has the same maximum
    Tensor big = tiled(x, {4, 5, 5}, draws);
    auto y = block_quantize(big, 6, dim == -1 ? -1 : dim + 1, Rounding::Stochastic).to_vector();
    EXPECT_LT(expectation_error(x, y, draws), 1e-4) << dim;
  }
}

TEST(Stochastic, OnlyNeighboursAndGridFixed) {
  manual_seed(14);
  std::vector<float> x;
  for (int i = 0; i < 4000; ++i) x.push_back(static_cast<float>(i - 2000) * 0.000731f);
  auto y = fixed_point_quantize(T(x), 8, 5, false, false, Rounding::Stochastic).to_vector();
  for (size_t i = 0; i < x.size(); ++i) {
    double lo = std::floor(x[i] * 32.0) / 32.0, hi = std::ceil(x[i] * 32.0) / 32.0;
    ASSERT_TRUE(y[i] == lo || y[i] == hi) << x[i] << " -> " << y[i];
  }
  // values on the grid never move
  std::vector<float> g;
  for (int i = -128; i < 128; ++i) g.push_back(static_cast<float>(i) / 32.0f);
  expect_values(fixed_point_quantize(T(g), 8, 5, true, false, Rounding::Stochastic).to_vector(), g);
}

TEST(Stochastic, OnlyNeighboursFloatAndBlock) {
  manual_seed(15);
  Tensor xt = randn({5000}) * 3.0f;
  auto x = xt.to_vector();
  auto yf = float_quantize(xt, 5, 3, Rounding::Stochastic).to_vector();
  auto lo = quantize(xt, FloatingPoint{.exp = 5, .man = 3}, Rounding::Down).to_vector();
  auto hi = quantize(xt, FloatingPoint{.exp = 5, .man = 3}, Rounding::Up).to_vector();
  for (size_t i = 0; i < x.size(); ++i) ASSERT_TRUE(yf[i] == lo[i] || yf[i] == hi[i]) << x[i];
  auto yb = block_quantize(xt, 6, -1, Rounding::Stochastic).to_vector();
  auto lob = quantize(xt, BlockFloatingPoint{.wl = 6}, Rounding::Down).to_vector();
  auto hib = quantize(xt, BlockFloatingPoint{.wl = 6}, Rounding::Up).to_vector();
  for (size_t i = 0; i < x.size(); ++i) ASSERT_TRUE(yb[i] == lob[i] || yb[i] == hib[i]) << x[i];
  // grid values of the float format never move
  expect_values(float_quantize(T(lo), 5, 3, Rounding::Stochastic).to_vector(), lo);
}

TEST(Stochastic, ReproducibleBySeedFreshPerCall) {
  Tensor x = linspace(-3.0f, 3.0f, 10001);
  manual_seed(42);
  auto a1 = float_quantize(x, 4, 2, Rounding::Stochastic).to_vector();
  auto a2 = float_quantize(x, 4, 2, Rounding::Stochastic).to_vector();
  manual_seed(42);
  auto b1 = float_quantize(x, 4, 2, Rounding::Stochastic).to_vector();
  auto b2 = float_quantize(x, 4, 2, Rounding::Stochastic).to_vector();
  EXPECT_EQ(a1, b1);
  EXPECT_EQ(a2, b2);
  EXPECT_NE(a1, a2);  // the second call drew fresh bits
  manual_seed(43);
  EXPECT_NE(float_quantize(x, 4, 2, Rounding::Stochastic).to_vector(), a1);
  // a caller's own generator
  Generator g1(5), g2(5);
  auto c1 = quantize(x, FixedPoint{.wl = 6, .fl = 2}, Rounding::Stochastic, {.generator = &g1});
  auto c2 = quantize(x, FixedPoint{.wl = 6, .fl = 2}, Rounding::Stochastic, {.generator = &g2});
  EXPECT_EQ(c1.to_vector(), c2.to_vector());
  EXPECT_EQ(g1.offset(), (10001u + 3u) / 4u);
}

TEST(Stochastic, IndependentOfThreadCount) {
  Tensor x = randn({300001});
  const int saved = get_num_threads();
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (const Number& n :
         {Number(FixedPoint{.wl = 8, .fl = 4}), Number(FloatingPoint{.exp = 5, .man = 2}),
          Number(BlockFloatingPoint{.wl = 8, .dim = -1})}) {
      Generator g(99);
      results.push_back(quantize(x, n, Rounding::Stochastic, {.generator = &g}).to_vector());
    }
  }
  set_num_threads(saved);
  for (size_t i = 3; i < results.size(); ++i) EXPECT_EQ(results[i], results[i % 3]) << i;
}

TEST(Stochastic, BitsMatchPhiloxStream) {
  // element i uses word i % 4 of Philox block offset + i / 4: check P(up) per element is
  // decided by exactly that word (x = 0.5 quantum: up iff bits < 2^31)
  Generator g(1234);
  g.reserve(7);  // a nonzero offset
  const uint64_t offset = g.offset();
  std::vector<float> x(37, 0.5f);
  auto y = quantize(T(x), FixedPoint{.wl = 4, .fl = 0}, Rounding::Stochastic, {.generator = &g})
               .to_vector();
  for (size_t i = 0; i < x.size(); ++i) {
    uint32_t bits = philox_bits(1234, offset, i);
    EXPECT_EQ(y[i], bits < 0x80000000u ? 1.0f : 0.0f) << i;
  }
}

}  // namespace
}  // namespace qtorch::quant::test
