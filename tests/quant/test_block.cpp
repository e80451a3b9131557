// Block floating point: exact tables, per-dim exponents on 2-D and 4-D tensors, special
// blocks (zero, NaN/inf, subnormal maximum, maximum near FLT_MAX).
#include "qtorch/autograd/elementwise.h"
#include "qtorch/core/tensor.h"
#include "qtorch/quant/quantize.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

std::vector<float> blk(const Tensor& x, int wl, int dim, Rounding r = Rounding::Nearest,
                       QuantStats* stats = nullptr) {
  return quantize(x, BlockFloatingPoint{.wl = wl, .dim = dim}, r, {.stats = stats}).to_vector();
}

const std::vector<float> kRows = {0.1f, 0.2f, 0.3f, 10.0f, 20.0f, 30.0f};

TEST(BlockFloat, WholeTensor) {
  // max 30: E = 4, quantum 2^(4 + 2 - 4) = 4, saturate at 2^5 - 4 = 28; ties toward +inf
  QuantStats st;
  expect_values(blk(Tensor::from_vector(kRows, {2, 3}), 4, -1, Rounding::Nearest, &st),
                {0.0f, 0.0f, 0.0f, 12.0f, 20.0f, 28.0f});
  EXPECT_EQ(st.clamped, 1);  // 30 rounds to 32 and saturates
  EXPECT_EQ(st.flushed, 3);
  expect_values(blk(T({-10.0f, -6.0f, 6.0f, 30.0f, -30.0f}), 4, -1),
                {-8.0f, -4.0f, 8.0f, 28.0f, -28.0f});
}

TEST(BlockFloat, PerDimExponents2D) {
  Tensor x = Tensor::from_vector(kRows, {2, 3});
  // dim 0: row 0 has max 0.3 (E = -2, quantum 1/16), row 1 max 30 (quantum 4)
  expect_values(blk(x, 4, 0), {0.125f, 0.1875f, 0.3125f, 12.0f, 20.0f, 28.0f});
  // dim 1: column maxima 10 (E 3, quantum 2), 20 and 30 (E 4, quantum 4)
  expect_values(blk(x, 4, 1), {0.0f, 0.0f, 0.0f, 10.0f, 20.0f, 28.0f});
}

TEST(BlockFloat, PerDimExponents4D) {
  // [out=2, in=2, kh=1, kw=2]: dim 0 gives one exponent per output channel
  std::vector<float> w = {0.5f, 0.26f, -0.7f, 0.01f, 100.0f, 3.0f, -60.0f, 37.0f};
  Tensor x = Tensor::from_vector(w, {2, 2, 1, 2});
  // channel 0: max 0.7 (E -1), wl 6: quantum 2^(-1 + 2 - 6) = 1/32, saturate 1 - 1/32
  // channel 1: max 100 (E 6), quantum 2^2 = 4, saturate 128 - 4
  expect_values(blk(x, 6, 0), {0.5f, 0.25f, -0.6875f, 0.0f, 100.0f, 4.0f, -60.0f, 36.0f});
  // dim 3 (kw): column 0 max 100 (quantum 4), column 1 max 37 (E 5, quantum 2)
  expect_values(blk(x, 6, 3), {0.0f, 0.0f, -0.0f, 0.0f, 100.0f, 4.0f, -60.0f, 38.0f});
  // dim 1 (in): in 0 holds {0.5, .26, 100, 3}, in 1 holds {-.7, .01, -60, 37}: max 60
  expect_values(blk(x, 6, 1), {0.0f, 0.0f, 0.0f, 0.0f, 100.0f, 4.0f, -60.0f, 38.0f});
}

TEST(BlockFloat, SpecialBlocks) {
  // zeros stay zero (with their sign)
  auto z = blk(T({0.0f, -0.0f, 0.0f}), 8, -1);
  expect_values(z, {0.0f, 0.0f, 0.0f});
  EXPECT_TRUE(std::signbit(z[1]));
  // NaN or inf makes its whole block NaN, other blocks are untouched
  Tensor x = Tensor::from_vector({1.0f, kNaN, 0.5f, 2.0f, kInf, 0.25f, 0.75f, 3.0f, 0.5f}, {3, 3});
  auto y = blk(x, 8, 0);
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(std::isnan(y[i])) << i;
  expect_values({y[6], y[7], y[8]}, {0.75f, 3.0f, 0.5f});
  // a maximum near FLT_MAX works (E = 127, quantum 2^121, saturation 2^128 - 2^121)
  const float big = std::numeric_limits<float>::max();
  auto b = blk(T({big, -big, 1e38f, 1e30f}), 8, -1);
  const float sat = std::ldexp(1.0f, 127) * (2.0f - std::ldexp(1.0f, -6));
  EXPECT_EQ(b[0], sat);
  EXPECT_EQ(b[1], -sat);
  EXPECT_EQ(b[2], std::ldexp(1.0f, 121) * static_cast<float>(std::round(static_cast<double>(1e38f) /
                                                                        std::ldexp(1.0, 121))));
  EXPECT_EQ(b[3], 0.0f);
  // a subnormal maximum reads as E = -126: quantum 2^(-124 - wl)
  const float q = std::ldexp(1.0f, -132);
  auto s = blk(T({1e-40f, -3e-41f, 7e-42f}), 8, -1);
  expect_values(s, {q, -0.0f, 0.0f});  // 1e-40 is 0.54 quanta, the others below 0.2
}

TEST(BlockFloat, DirectedModes) {
  Tensor x = T({10.0f, -10.0f, 7.0f, 30.0f});  // quantum 4 for wl 4
  expect_values(blk(x, 4, -1, Rounding::NearestEven), {8.0f, -8.0f, 8.0f, 28.0f});
  expect_values(blk(x, 4, -1, Rounding::TowardZero), {8.0f, -8.0f, 4.0f, 28.0f});
  expect_values(blk(x, 4, -1, Rounding::Up), {12.0f, -8.0f, 8.0f, 28.0f});
  expect_values(blk(x, 4, -1, Rounding::Down), {8.0f, -12.0f, 4.0f, 28.0f});
}

// Against a double reference (nearest ties toward +inf) on random 3-D data, every dim; the
// larger shape spans many chunks of 4096 (split inside rows of 333 blocks for dim 2, one
// block per column) and the threaded block-maximum pass.
TEST(BlockFloat, RandomAgainstScalarReference) {
  for (const Shape& shape : {Shape{6, 7, 5}, Shape{23, 41, 333}}) {
    manual_seed(3);
    Tensor x = randn(shape) * 10.0f;
    auto in = x.to_vector();
    for (int dim : {-1, 0, 1, 2}) {
      for (int wl : {2, 5, 8, 24}) {
        std::vector<double> maxima(dim == -1 ? 1 : x.size(dim), 0.0);
        auto block_of = [&](size_t i) -> size_t {
          if (dim == -1) return 0;
          size_t inner = 1;
          for (int d = dim + 1; d < 3; ++d) inner *= static_cast<size_t>(x.size(d));
          return (i / inner) % static_cast<size_t>(x.size(dim));
        };
        for (size_t i = 0; i < in.size(); ++i)
          maxima[block_of(i)] = std::max(maxima[block_of(i)], std::fabs(static_cast<double>(in[i])));
        std::vector<float> want(in.size());
        for (size_t i = 0; i < in.size(); ++i) {
          int E;
          std::frexp(maxima[block_of(i)], &E);
          E -= 1;
          double q = std::ldexp(1.0, E + 2 - wl), sat = std::ldexp(1.0, E + 1) - q;
          double r = std::floor(in[i] / q + 0.5) * q;
          want[i] = static_cast<float>(std::clamp(r, -sat, sat));
        }
        expect_values(blk(x, wl, dim), want, in);
      }
    }
  }
}

}  // namespace
}  // namespace qtorch::quant::test
