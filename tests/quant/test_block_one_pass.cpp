// Block floating point over one block (dim = -1) on tensors large enough to be split into
// chunks and threads, and per-row blocks (dim 0), whose scales are found row by row. The kernel finds the block's scale while quantizing and redoes the
// chunks it quantized with a smaller scale; these tests place the block maximum where a
// redo is needed (last element, another thread's range, late NaN) and check the result
// against a double reference, against the two-pass in-place path, and across threads.
#include "qtorch/core/threads.h"
#include "qtorch/quant/rounding.h"
#include "qtorch/quant/quantize.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

constexpr int64_t kN = (int64_t{1} << 20) + 123;  // many chunks, past the parallel threshold

/// Values in (-1, 1) from a fixed integer hash (no library generator involved).
std::vector<float> small_values(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t h = 12345u;
  for (auto& x : v) {
    h = h * 1664525u + 1013904223u;
    x = static_cast<float>(static_cast<int32_t>(h)) / 2147483648.0f;  // [-1, 1)
  }
  return v;
}

/// Nearest (ties toward +inf) with one exponent for the whole input; counts the saturated.
std::vector<float> reference_nearest(const std::vector<float>& in, int wl, int64_t* clamped) {
  double m = 0;
  for (float x : in) m = std::max(m, std::fabs(static_cast<double>(x)));
  int E;
  std::frexp(m, &E);
  E -= 1;
  const double q = std::ldexp(1.0, E + 2 - wl), sat = std::ldexp(1.0, E + 1) - q;
  std::vector<float> out(in.size());
  *clamped = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const double r = std::floor(in[i] / q + 0.5) * q;
    if (std::fabs(r) > sat) ++*clamped;
    out[i] = static_cast<float>(std::clamp(r, -sat, sat));
  }
  return out;
}

class BlockOnePass : public ::testing::TestWithParam<int64_t> {
 protected:
  void TearDown() override { set_num_threads(2); }
};

// The maximum (a binade above everything else) at element GetParam().
TEST_P(BlockOnePass, NearestMatchesReferenceWherever) {
  std::vector<float> in = small_values(kN);
  in[static_cast<size_t>(GetParam())] = -3.9f;  // E = 1 against E = -1 elsewhere
  int64_t want_clamped = 0;
  const std::vector<float> want = reference_nearest(in, 8, &want_clamped);
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    QuantStats st;
    Tensor y = quantize(T(in), BlockFloatingPoint{.wl = 8, .dim = -1}, Rounding::Nearest,
                        {.stats = &st});
    SCOPED_TRACE(::testing::Message() << threads << " threads");
    expect_values(y.to_vector(), want, in);
    EXPECT_EQ(st.clamped, want_clamped);
    EXPECT_EQ(st.numel, kN);
  }
}

// Stochastic: the one-pass result (fresh output) equals the two-pass one (in place) with
// the same random bits, element for element, with the same counts.
TEST_P(BlockOnePass, StochasticEqualsInPlacePath) {
  std::vector<float> in = small_values(kN);
  in[static_cast<size_t>(GetParam())] = 6.5f;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    Generator g1(77), g2(77);
    QuantStats s1, s2;
    Tensor fresh = quantize(T(in), BlockFloatingPoint{.wl = 6, .dim = -1}, Rounding::Stochastic,
                            {.generator = &g1, .stats = &s1});
    Tensor in_place = T(in);
    quantize_into(in_place, in_place, BlockFloatingPoint{.wl = 6, .dim = -1},
                  Rounding::Stochastic, {.generator = &g2, .stats = &s2});
    SCOPED_TRACE(::testing::Message() << threads << " threads");
    expect_values(fresh.to_vector(), in_place.to_vector(), in);
    EXPECT_EQ(s1.clamped, s2.clamped);
    EXPECT_EQ(s1.flushed, s2.flushed);
  }
}

INSTANTIATE_TEST_SUITE_P(MaxPosition, BlockOnePass,
                         ::testing::Values(int64_t{0}, int64_t{5000}, kN / 2 + 17, kN - 1));

// A NaN late in the tensor makes every element NaN, also those quantized before it was seen.
TEST(BlockOnePassSpecial, LateNaNPoisonsTheWholeBlock) {
  std::vector<float> in = small_values(kN);
  in[static_cast<size_t>(kN - 2)] = kNaN;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    std::vector<float> y =
        quantize(T(in), BlockFloatingPoint{.wl = 8, .dim = -1}, Rounding::Nearest).to_vector();
    int64_t not_nan = 0;
    for (float v : y) not_nan += std::isnan(v) ? 0 : 1;
    EXPECT_EQ(not_nan, 0) << threads << " threads";
  }
  set_num_threads(2);
}

// A late maximum that only raises the scale within the same binade changes nothing: the
// scale depends on the exponent alone.
TEST(BlockOnePassSpecial, SameBinadeMaximumKeepsTheScale) {
  std::vector<float> in = small_values(kN);
  in[static_cast<size_t>(kN - 1)] = 0.99999994f;  // largest float below 1: still E = -1
  int64_t want_clamped = 0;
  const std::vector<float> want = reference_nearest(in, 4, &want_clamped);
  QuantStats st;
  Tensor y = quantize(T(in), BlockFloatingPoint{.wl = 4, .dim = -1}, Rounding::Nearest,
                      {.stats = &st});
  expect_values(y.to_vector(), want, in);
  EXPECT_EQ(st.clamped, want_clamped);
}

// Rows (dim 0) are scaled while quantizing when the output is apart from the input, or in
// place on one thread; in place on several threads the scales are found first. All three
// give the same bits, with rows that straddle chunks and threads.
TEST(BlockRows, EveryPathGivesTheSameBits) {
  for (Shape shape : {Shape{300, 1001}, Shape{50, 37}, Shape{3, 5000}}) {
    const int64_t n = shape[0] * shape[1];
    std::vector<float> in = small_values(n);
    for (int64_t r = 0; r < shape[0]; r += 7) in[static_cast<size_t>(r * shape[1] + shape[1] - 1)] = 3.0f;
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      for (Rounding rounding : {Rounding::Stochastic, Rounding::Nearest}) {
        Generator g1(5), g2(5);
        QuantStats s1, s2;
        const Tensor x = Tensor::from_vector(in, shape);
        Tensor fresh = quantize(x, BlockFloatingPoint{.wl = 5, .dim = 0}, rounding,
                                {.generator = &g1, .stats = &s1});
        Tensor in_place = x.clone();
        quantize_into(in_place, in_place, BlockFloatingPoint{.wl = 5, .dim = 0}, rounding,
                      {.generator = &g2, .stats = &s2});
        SCOPED_TRACE(::testing::Message() << shape[0] << "x" << shape[1] << ", " << threads << " threads, "
                                        << rounding_name(rounding));
        expect_values(fresh.to_vector(), in_place.to_vector(), in);
        EXPECT_EQ(s1.clamped, s2.clamped);
        EXPECT_EQ(s1.flushed, s2.flushed);
      }
    }
  }
  set_num_threads(2);
}

// A 1-D tensor with dim 0: every element is a block of its own, E from the element itself.
TEST(BlockRows, OwnBlockPerElementMatchesReference) {
  const std::vector<float> in = {0.0f, -0.0f, 1.0f, -1.3f, 3.7f, 1e-40f, -2.5e-39f, 6.0e37f, 3.0e38f,
                                 kInf, -kInf, kNaN, 0.15625f, 0.171875f, -7.9f, 100.0f};
  std::vector<float> want;
  for (float x : in) {
    if (std::isnan(x) || std::isinf(x)) {
      want.push_back(kNaN);  // a NaN or inf makes its block NaN
      continue;
    }
    const double a = std::fabs(static_cast<double>(x));
    int E = -126;  // zero and float32 subnormals read the exponent -126
    if (a >= std::ldexp(1.0, -126)) {
      std::frexp(a, &E);
      E -= 1;
    }
    const double q = std::ldexp(1.0, E + 2 - 4), sat = std::ldexp(1.0, E + 1) - q;
    const double r = std::floor(x / q + 0.5) * q;  // ties toward +inf
    want.push_back(static_cast<float>(std::clamp(r, -sat, sat)));
  }
  expect_values(quantize(T(in), BlockFloatingPoint{.wl = 4, .dim = 0}, Rounding::Nearest).to_vector(),
                want, in);
}

}  // namespace
}  // namespace qtorch::quant::test
