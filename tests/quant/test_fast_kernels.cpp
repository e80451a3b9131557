// The CPU fast kernels (AVX-512) against the scalar rounding-core loop, bit for bit: every
// family, every rounding mode, formats on both sides of the fast paths' preconditions,
// inputs full of ties, grid points, subnormals, zeros, inf and NaN; outputs, clamp masks
// and counts must agree exactly. Also the stochastic bits against philox_bits itself.
#include <cmath>
#include <cstdint>
#include <cstring>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#include <random>
#include <string>
#include <vector>

#include "qtorch/core/philox.h"
#include "qtorch/quant/cpu/quantize_cpu.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/quant/rounding_core.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

constexpr Rounding kModes[] = {Rounding::Stochastic, Rounding::Nearest,    Rounding::NearestEven,
                               Rounding::TowardZero, Rounding::Up,         Rounding::Down};

/// Inputs around the grid 2^q (and some anywhere): grid points, ties, one ulp either side,
/// random values at many scales, float32 subnormals, zeros, inf, NaN, random bit patterns.
std::vector<float> inputs_for(int q, uint32_t seed, size_t random_count = 3000) {
  std::mt19937 gen(seed);
  std::vector<float> v;
  auto push_pm = [&](float f) {
    v.push_back(f);
    v.push_back(-f);
  };
  for (int dq = -30; dq <= 30; dq += (dq > -5 && dq < 27) ? 1 : 5) {
    const int e = q + dq;
    if (e < -149 || e > 127) continue;
    for (int k = 1; k <= 7; ++k) {
      const double g = std::ldexp(static_cast<double>(k), q);  // grid point k * 2^q
      for (double f : {g, g + std::ldexp(0.5, q), g - std::ldexp(0.5, q)}) {
        const float x = static_cast<float>(f);
        if (!std::isfinite(x)) continue;
        push_pm(x);
        push_pm(std::nextafter(x, 0.0f));
        push_pm(std::nextafter(x, kInf));
      }
    }
    const float p = std::ldexp(1.0f, e);
    push_pm(p);
    push_pm(std::nextafter(p, 0.0f));
    push_pm(std::nextafter(p, kInf));
    std::uniform_real_distribution<float> u(1.0f, 2.0f);
    for (int k = 0; k < 8; ++k) push_pm(std::ldexp(u(gen), e));
  }
  for (uint32_t b : {0u, 1u, 2u, 3u, 0x7fffffu, 0x800000u, 0x7f7fffffu, 0x7f800000u, 0x7fc00000u,
                     0x7f800001u, 0x7fffffffu, 0x400000u, 0x3f800000u})
    push_pm(float_of(b));
  std::uniform_int_distribution<uint32_t> bits;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> scale(-20, 20);
  for (size_t k = 0; k < random_count; ++k) {
    v.push_back(float_of(bits(gen)));
    v.push_back(std::ldexp(normal(gen), q + 6 + scale(gen) / 4));
  }
  // Shuffle so that vectors mix every kind of lane, then an odd length for a masked tail.
  std::shuffle(v.begin(), v.end(), gen);
  if (v.size() % 16 == 0) v.push_back(0.5f);
  return v;
}

/// Runs the fast and the reference CPU paths on x and compares every bit.
void expect_same(const std::vector<float>& x, const Number& number, Rounding rounding,
                 const Shape& shape, const std::string& what) {
  const QuantParams p = make_quant_params(number, rounding, shape);
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> y1(x.size()), y2(x.size()), m1(x.size()), m2(x.size());
  QuantStats s1, s2;
  const uint64_t seed = 0x9e3779b97f4a7c15ull, offset = 12345;
  quantize_cpu(x.data(), y1.data(), m1.data(), n, p, seed, offset, &s1);
  quantize_cpu_reference(x.data(), y2.data(), m2.data(), n, p, seed, offset, &s2);
  int misses = 0;
  for (size_t i = 0; i < x.size() && misses < 5; ++i) {
    if (bits_of(y1[i]) != bits_of(y2[i]) || bits_of(m1[i]) != bits_of(m2[i])) {
      ++misses;
      ADD_FAILURE() << what << " " << rounding << ": element " << i << " input " << x[i] << " ("
                    << std::hex << bits_of(x[i]) << "): fast " << bits_of(y1[i]) << " mask "
                    << m1[i] << ", reference " << bits_of(y2[i]) << " mask " << m2[i]
                    << std::dec;
    }
  }
  EXPECT_EQ(s1.clamped, s2.clamped) << what << " " << rounding;
  EXPECT_EQ(s1.flushed, s2.flushed) << what << " " << rounding;
  // Without stats and mask (the untracked kernels).
  std::vector<float> y3(x.size());
  quantize_cpu(x.data(), y3.data(), nullptr, n, p, seed, offset, nullptr);
  for (size_t i = 0; i < x.size(); ++i)
    if (bits_of(y3[i]) != bits_of(y2[i])) {
      ADD_FAILURE() << what << " " << rounding << " untracked: element " << i;
      break;
    }
}

void skip_without_fast_kernels() {
  if (!quantize_cpu_has_fast_kernels()) GTEST_SKIP() << "no AVX-512 kernels in this build";
}

TEST(FastKernels, FixedPointMatchesReference) {
  skip_without_fast_kernels();
  int checked = 0;
  for (int fl : {-40, -33, -32, -31, -5, 0, 1, 4, 6, 10, 23, 60, 95, 96, 120, 126, 127, 140, 149}) {
    const std::vector<float> x = inputs_for(-fl, static_cast<uint32_t>(fl + 1000), 600);
    for (int wl : {1, 2, 5, 8, 16, 25, 32}) {
      for (bool clamp : {true, false})
        for (bool symmetric : {false, true}) {
          FixedPoint f{.wl = wl, .fl = fl, .clamp = clamp, .symmetric = symmetric};
          try {
            f.validate();
          } catch (const std::exception&) {
            continue;
          }
          for (Rounding r : kModes)
            expect_same(x, f, r, {static_cast<int64_t>(x.size())}, to_string(Number{f}));
          ++checked;
        }
    }
  }
  EXPECT_GT(checked, 300);
}

TEST(FastKernels, FloatingPointMatchesReference) {
  skip_without_fast_kernels();
  std::vector<FloatingPoint> fmts = {formats::fp16(), formats::bf16(), formats::tf32(),
                                     formats::fp8_e4m3(), formats::fp8_e5m2()};
  for (int exp = 2; exp <= 8; ++exp)
    for (int man : {0, 1, 2, 3, 7, 10, 22, 23})
      for (FloatRange range : {FloatRange::Extended, FloatRange::IEEE, FloatRange::FiniteNaN})
        for (bool sub : {true, false})
          for (bool sat : {true, false})
            fmts.push_back({.exp = exp, .man = man, .range = range, .subnormals = sub, .saturate = sat});
  for (int bias : {-3, 0, 11, 100, 127})
    fmts.push_back({.exp = 8, .man = 5, .bias = bias});
  fmts.push_back({.exp = 4, .man = 3, .range = FloatRange::FiniteNaN, .saturate = false, .bias = 11});
  int checked = 0;
  for (const FloatingPoint& f : fmts) {
    try {
      f.validate();
    } catch (const std::exception&) {
      continue;
    }
    // Inputs around the subnormal grid, the smallest normal binade and the top of the range.
    std::vector<float> x = inputs_for(f.emin() - f.man, static_cast<uint32_t>(checked), 150);
    std::vector<float> top = inputs_for(std::min(f.emax(), 127) - f.man, 7u, 100);
    x.insert(x.end(), top.begin(), top.end());
    for (Rounding r : kModes)
      expect_same(x, f, r, {static_cast<int64_t>(x.size())}, to_string(Number{f}));
    ++checked;
  }
  EXPECT_GT(checked, 300);
}

TEST(FastKernels, BlockMatchesReference) {
  skip_without_fast_kernels();
  std::mt19937 gen(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  // Block scales from tiny (subnormal maxima) to huge (past the fast grids' range).
  for (int e : {-149, -140, -126, -100, -60, -10, 0, 3, 20, 30, 40, 100, 127}) {
    for (const Shape& shape : {Shape{1000}, Shape{37, 53}, Shape{6, 5, 67}, Shape{16, 16},
                               Shape{7, 1, 700}, Shape{20, 256}}) {
      const int64_t n = numel_of(shape);
      std::vector<float> x(static_cast<size_t>(n));
      std::vector<float> special = inputs_for(e - 8, static_cast<uint32_t>(e + 500), 10);
      for (int64_t i = 0; i < n; ++i) {
        float v = std::ldexp(normal(gen), e - 3);
        if (i % 3 == 0) v = special[static_cast<size_t>(i) % special.size()];
        if (!std::isfinite(v) || std::fabs(v) >= std::ldexp(1.0f, std::min(e + 1, 127)))
          v = std::ldexp(0.75f, e);  // keep most blocks finite
        x[static_cast<size_t>(i)] = v;
      }
      if (e == 20 && n == 1000) x[17] = kNaN;  // one block of NaN
      for (int wl : {2, 3, 8, 12, 24})
        for (int dim = -1; dim < static_cast<int>(shape.size()); ++dim) {
          BlockFloatingPoint b{.wl = wl, .dim = dim};
          for (Rounding r : kModes)
            expect_same(x, b, r, shape, to_string(Number{b}) + " e=" + std::to_string(e));
        }
    }
  }
}

/// The dropped fraction of |x| below the grid 2^q as a 32-bit fixed-point number
/// (truncated), from the exact significand.
uint32_t fraction_bits(float x, int q) {
  const uint32_t a = bits_of(x) & 0x7fffffffu;
  const int be = static_cast<int>(a >> 23);
  const uint64_t m = (a & 0x7fffffu) | (be != 0 ? 0x800000u : 0u);
  const int shift = q - ((be > 1 ? be : 1) - 150);  // bits of m below the grid
  if (shift <= 0) return 0;
  if (shift <= 32) return static_cast<uint32_t>((m & ((uint64_t{1} << shift) - 1)) << (32 - shift));
  return shift - 32 < 64 ? static_cast<uint32_t>(m >> (shift - 32)) : 0u;
}

/// Random words on the edges of each element's up/down decision (F - 1, F, F + 1, with F
/// the truncated fraction), plus 0, all ones and random words; fast and reference compared.
void expect_same_on_edges(const std::vector<float>& x, const Number& number, const Shape& shape,
                          const std::string& what) {
  const QuantParams p = make_quant_params(number, Rounding::Stochastic, shape);
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<int> q(x.size());
  if (p.family == QuantFamily::Fixed) {
    std::fill(q.begin(), q.end(), p.q);
  } else if (p.family == QuantFamily::Float) {
    for (size_t i = 0; i < x.size(); ++i) {
      const int be = static_cast<int>((bits_of(x[i]) >> 23) & 0xff);
      const int e = be - 127;  // a float32 subnormal is below 2^emin: it takes qsub
      q[i] = e >= p.emin ? e - p.man : p.qsub;
    }
  } else {
    std::vector<uint32_t> maxima(static_cast<size_t>(p.blocks), 0u);
    for (int64_t i = 0; i < n; ++i) {
      uint32_t& m = maxima[static_cast<size_t>((i / p.inner) % p.blocks)];
      m = std::max(m, bits_of(x[static_cast<size_t>(i)]) & 0x7fffffffu);
    }
    for (int64_t i = 0; i < n; ++i)
      q[static_cast<size_t>(i)] = block_scale(maxima[static_cast<size_t>((i / p.inner) % p.blocks)], p.wl).q;
  }
  std::mt19937 gen(1);
  std::vector<uint32_t> rnd(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const uint32_t f = fraction_bits(x[i], q[i]);
    const uint32_t choices[] = {f - 1u, f, f + 1u, 0u, 0xffffffffu, static_cast<uint32_t>(gen())};
    rnd[i] = choices[(i / 3) % 6];
  }
  std::vector<float> y1(x.size()), y2(x.size()), m1(x.size()), m2(x.size());
  QuantStats s1, s2;
  quantize_cpu_with_bits(x.data(), y1.data(), m1.data(), n, p, rnd.data(), &s1, true);
  quantize_cpu_with_bits(x.data(), y2.data(), m2.data(), n, p, rnd.data(), &s2, false);
  int misses = 0;
  for (size_t i = 0; i < x.size() && misses < 5; ++i)
    if (bits_of(y1[i]) != bits_of(y2[i]) || bits_of(m1[i]) != bits_of(m2[i])) {
      ++misses;
      ADD_FAILURE() << what << ": element " << i << " input " << std::hex << bits_of(x[i])
                    << " rnd " << rnd[i] << ": fast " << bits_of(y1[i]) << ", reference "
                    << bits_of(y2[i]) << std::dec;
    }
  EXPECT_EQ(s1.clamped, s2.clamped) << what;
  EXPECT_EQ(s1.flushed, s2.flushed) << what;
}

TEST(FastKernels, StochasticEdgesMatchReference) {
  skip_without_fast_kernels();
  for (int fl : {-32, -7, 0, 6, 20, 60, 100, 126, 149}) {
    const std::vector<float> x = inputs_for(-fl, static_cast<uint32_t>(fl + 77), 400);
    for (bool clamp : {true, false}) {
      FixedPoint f{.wl = 12, .fl = fl, .clamp = clamp};
      try {
        f.validate();
      } catch (const std::exception&) {
        continue;
      }
      expect_same_on_edges(x, f, {static_cast<int64_t>(x.size())}, to_string(Number{f}));
    }
  }
  for (const FloatingPoint& f :
       {formats::fp16(), formats::bf16(), formats::fp8_e4m3(), formats::fp8_e5m2(),
        FloatingPoint{.exp = 5, .man = 2}, FloatingPoint{.exp = 3, .man = 0},
        FloatingPoint{.exp = 8, .man = 22, .subnormals = false},
        FloatingPoint{.exp = 8, .man = 7, .range = FloatRange::IEEE, .subnormals = false},
        FloatingPoint{.exp = 6, .man = 4, .subnormals = false},
        FloatingPoint{.exp = 7, .man = 5, .bias = 120}}) {
    std::vector<float> x = inputs_for(f.emin() - f.man, 3u, 300);
    std::vector<float> top = inputs_for(std::min(f.emax(), 127) - f.man, 4u, 50);
    x.insert(x.end(), top.begin(), top.end());
    expect_same_on_edges(x, f, {static_cast<int64_t>(x.size())}, to_string(Number{f}));
  }
  for (int e : {-149, -126, -100, -20, 0, 5, 30, 40}) {
    std::vector<float> x = inputs_for(e - 6, static_cast<uint32_t>(e + 9), 300);
    for (float& v : x)
      if (!std::isfinite(v) || std::fabs(v) >= std::ldexp(1.0f, std::min(e + 1, 127)))
        v = std::ldexp(0.625f, e);
    for (int wl : {2, 8, 24})
      for (const Shape& shape : {Shape{static_cast<int64_t>(x.size())}})
        expect_same_on_edges(x, BlockFloatingPoint{.wl = wl, .dim = -1}, shape,
                             "block wl=" + std::to_string(wl) + " e=" + std::to_string(e));
  }
}

TEST(FastKernels, LargeStreamedOutputsMatchReference) {
  // Past 2^22 elements the kernels use non-temporal stores (64-byte aligned outputs).
  skip_without_fast_kernels();
  const int64_t n = (int64_t{1} << 22) + 37;
  manual_seed(21);
  const Tensor x = randn({n});
  Tensor y1 = empty({n}), y2 = empty({n}), m1 = empty({n}), m2 = empty({n});
  for (const Number& number : {Number{FixedPoint{.wl = 8, .fl = 6}}, Number{formats::fp8_e5m2()},
                               Number{BlockFloatingPoint{.wl = 8}}}) {
    for (Rounding r : {Rounding::Stochastic, Rounding::Nearest}) {
      const QuantParams p = make_quant_params(number, r, x.shape());
      QuantStats s1, s2;
      quantize_cpu(x.data_ptr(), y1.data_ptr(), m1.data_ptr(), n, p, 7, 3, &s1);
      quantize_cpu_reference(x.data_ptr(), y2.data_ptr(), m2.data_ptr(), n, p, 7, 3, &s2);
      EXPECT_EQ(std::memcmp(y1.data_ptr(), y2.data_ptr(), sizeof(float) * n), 0) << number << " " << r;
      EXPECT_EQ(std::memcmp(m1.data_ptr(), m2.data_ptr(), sizeof(float) * n), 0) << number << " " << r;
      EXPECT_EQ(s1.clamped, s2.clamped);
      EXPECT_EQ(s1.flushed, s2.flushed);
      quantize_cpu(x.data_ptr(), y1.data_ptr(), nullptr, n, p, 7, 3, nullptr);
      EXPECT_EQ(std::memcmp(y1.data_ptr(), y2.data_ptr(), sizeof(float) * n), 0) << number << " " << r;
    }
  }
}

#if defined(__SSE__)
TEST(FastKernels, FlushToZeroModeKeepsExactResults) {
  // With FTZ/DAZ set in the caller's MXCSR, float arithmetic on subnormals changes: the
  // kernels clear both for their duration, so results must not change, and the caller's
  // mode must be back afterwards.
  skip_without_fast_kernels();
  const unsigned saved = _mm_getcsr();
  std::vector<float> x = inputs_for(-140, 3u, 200);
  std::vector<float> more = inputs_for(-16, 4u, 200);
  x.insert(x.end(), more.begin(), more.end());
  _mm_setcsr(saved | 0x8040u);  // small inputs: the calling thread does the work
  for (const Number& number :
       {Number{FixedPoint{.wl = 8, .fl = 140, .clamp = false}}, Number{formats::fp8_e5m2()},
        Number{BlockFloatingPoint{.wl = 8}}})
    for (Rounding r : kModes)
      expect_same(x, number, r, {static_cast<int64_t>(x.size())}, to_string(number));
  EXPECT_EQ(_mm_getcsr(), saved | 0x8040u);
  _mm_setcsr(saved);
}
#endif

TEST(FastKernels, StochasticBitsArePhiloxBitsOfTheElement) {
  // Element i uses word i % 4 of Philox block offset + i / 4, for any offset (including a
  // carry into the counter's high word) and across chunk boundaries.
  const FixedPoint f{.wl = 8, .fl = 6};
  const QuantParams p = make_quant_params(f, Rounding::Stochastic, {10000});
  std::mt19937 gen(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(10000), y(10000);
  for (float& v : x) v = normal(gen);
  for (uint64_t offset : {0ull, 3ull, 0xffffff00ull, 0x1fffffffeull}) {
    const uint64_t seed = 0x0123456789abcdefull + offset;
    quantize_cpu(x.data(), y.data(), nullptr, 10000, p, seed, offset, nullptr);
    for (size_t i = 0; i < x.size(); ++i) {
      uint32_t c;
      const float want = quantize_fixed<RoundKind::Stochastic>(
          x[i], p, philox_bits(seed, offset, i), c);
      ASSERT_EQ(bits_of(y[i]), bits_of(want)) << "offset " << offset << " element " << i;
    }
  }
}

}  // namespace
}  // namespace qtorch::quant::test
