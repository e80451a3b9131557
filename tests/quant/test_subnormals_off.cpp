// FloatingPoint with subnormals = false: every |x| < 2^emin (float32 subnormal inputs
// included, which matters when emin = -126) rounds to 0 or +-2^emin under the rounding
// mode. Hand-computed values, an independent double reference, and fast kernels vs core.
#include <cmath>
#include <cstdint>
#include <vector>

#include "qtorch/quant/cpu/quantize_cpu.h"
#include "qtorch/quant/quantize.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

std::vector<float> qz(const std::vector<float>& x, const FloatingPoint& f, Rounding r,
                      QuantStats* stats = nullptr) {
  return quantize(T(x), f, r, {.stats = stats}).to_vector();
}

/// Bit-exact comparison (sign of zero included), reporting the first few misses.
void expect_bits(const std::vector<float>& got, const std::vector<float>& want,
                 const std::vector<float>& x, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  int misses = 0;
  for (size_t i = 0; i < got.size() && misses < 8; ++i)
    if (!same(got[i], want[i])) {
      ++misses;
      ADD_FAILURE() << what << ": element " << i << " input " << x[i] << " (0x" << std::hex
                    << bits_of(x[i]) << "): got 0x" << bits_of(got[i]) << ", want 0x"
                    << bits_of(want[i]) << std::dec;
    }
}

FloatingPoint bf16_nosub() {
  FloatingPoint f = formats::bf16();  // exp 8, man 7, IEEE range, emin = -126
  f.subnormals = false;
  return f;
}

const float kM126 = std::ldexp(1.0f, -126);        // 2^-126, bf16's smallest normal
const float kTiny = float_of(1u);                  // 2^-149, the smallest float32 subnormal
const float kBigSub = float_of(0x7fffffu);         // the largest float32 subnormal
const float kHalfM126 = float_of(0x400000u);       // 2^-127 (subnormal), half of 2^-126

TEST(SubnormalsOff, Bf16FlushesFloat32Subnormals) {
  const FloatingPoint f = bf16_nosub();
  ASSERT_EQ(f.emin(), -126);
  const float m = kM126;
  const float step = std::ldexp(1.0f, -133);  // bf16 ulp in binade -126
  const std::vector<float> x = {1e-40f, -1e-40f, kTiny,     -kTiny,     kBigSub, -kBigSub,
                                kHalfM126, -kHalfM126, m,   -m,         m + step, m + 0.5f * step,
                                0.0f,    -0.0f};
  // 1e-40 = 0.0085 * 2^-126; 2^-126 + step/2 is a tie between m and m + step.
  const float z = 0.0f, nz = -0.0f;
  struct Case {
    Rounding r;
    std::vector<float> want;
  };
  const Case cases[] = {
      {Rounding::Nearest,  // ties away from zero
       {z, nz, z, nz, m, -m, m, -m, m, -m, m + step, m + step, z, nz}},
      {Rounding::NearestEven,
       {z, nz, z, nz, m, -m, z, nz, m, -m, m + step, m, z, nz}},
      {Rounding::TowardZero,
       {z, nz, z, nz, z, nz, z, nz, m, -m, m + step, m, z, nz}},
      {Rounding::Up,
       {m, nz, m, nz, m, nz, m, nz, m, -m, m + step, m + step, z, nz}},
      {Rounding::Down,
       {z, -m, z, -m, z, -m, z, -m, m, -m, m + step, m, z, nz}},
  };
  for (const Case& c : cases) {
    QuantStats st;
    expect_bits(qz(x, f, c.r, &st), c.want, x, "bf16 nosub");
    int64_t flushed = 0;
    for (size_t i = 0; i < x.size(); ++i) flushed += (x[i] != 0.0f && c.want[i] == 0.0f);
    EXPECT_EQ(st.flushed, flushed) << c.r;
    EXPECT_EQ(st.clamped, 0) << c.r;
  }
  // Saturating and Extended range variants share the rule.
  for (FloatRange range : {FloatRange::IEEE, FloatRange::Extended})
    for (bool sat : {true, false}) {
      FloatingPoint g{.exp = 8, .man = 7, .range = range, .subnormals = false, .saturate = sat};
      expect_bits(qz({1e-40f, -kBigSub, kTiny}, g, Rounding::Nearest), {z, -m, z},
                  {1e-40f, -kBigSub, kTiny}, "exp8 man7 nosub");
    }
  // With subnormals the same inputs round on the grid 2^-133 instead.
  expect_bits(qz({1e-40f, kTiny, kHalfM126}, formats::bf16(), Rounding::NearestEven),
              {step /* 1e-40 = 1.09 * 2^-133 */, z, kHalfM126},
              {1e-40f, kTiny, kHalfM126}, "bf16 with subnormals");
}

TEST(SubnormalsOff, Bf16StochasticGivesZeroOrSmallestNormal) {
  const FloatingPoint f = bf16_nosub();
  const float m = kM126;
  // Bit-level: x = 2^-128 (0x200000) is a quarter of 2^-126, so its fraction of the quantum
  // is F = 2^30: up exactly when the random word is below 2^30. The smallest subnormal has
  // F = 2^32 / 2^23 = 512.
  const QuantParams p = make_quant_params(f, Rounding::Stochastic, {6});
  const float quarter = float_of(0x200000u);
  const std::vector<float> x = {quarter, quarter, -quarter, -quarter, kTiny, kTiny};
  const std::vector<uint32_t> rnd = {0x3fffffffu, 0x40000000u, 0x3fffffffu, 0x40000000u, 511u, 512u};
  const std::vector<float> want = {m, 0.0f, -m, -0.0f, m, 0.0f};
  for (bool fast : {true, false}) {
    std::vector<float> y(x.size());
    QuantStats st;
    quantize_cpu_with_bits(x.data(), y.data(), nullptr, 6, p, rnd.data(), &st, fast);
    expect_bits(y, want, x, fast ? "stochastic fast" : "stochastic reference");
    EXPECT_EQ(st.flushed, 3);
  }
  // Through quantize(): every output is 0 or 2^-126, about a quarter of them 2^-126.
  const int n = 1 << 16;
  std::vector<float> xs(n, quarter);
  auto y = qz(xs, f, Rounding::Stochastic);
  int ups = 0;
  for (float v : y) {
    ASSERT_TRUE(v == 0.0f || v == m) << v;
    ups += v == m;
  }
  EXPECT_NEAR(ups, n / 4, 700);  // sigma = sqrt(n * 3/16) ~ 111
}

TEST(SubnormalsOff, SmallFormatExp5Man2) {
  // emin = -14, no subnormals: below 2^-14 the only grid points are 0 and +-2^-14.
  const FloatingPoint f{.exp = 5, .man = 2, .range = FloatRange::IEEE, .subnormals = false};
  const float m = std::ldexp(1.0f, -14);
  const float z = 0.0f, nz = -0.0f;
  const std::vector<float> x = {0.75f * m, 0.5f * m, -0.5f * m, 0.25f * m, -0.25f * m,
                                1e-40f,    -1e-40f,  m,         1.25f * m, 1.125f * m,
                                std::nextafter(m, 0.0f)};
  struct Case {
    Rounding r;
    std::vector<float> want;
  };
  const Case cases[] = {
      {Rounding::Nearest, {m, m, -m, z, nz, z, nz, m, 1.25f * m, 1.25f * m, m}},
      {Rounding::NearestEven, {m, z, nz, z, nz, z, nz, m, 1.25f * m, m, m}},
      {Rounding::TowardZero, {z, z, nz, z, nz, z, nz, m, 1.25f * m, m, z}},
      {Rounding::Up, {m, m, nz, m, nz, m, nz, m, 1.25f * m, 1.25f * m, m}},
      {Rounding::Down, {z, z, -m, z, -m, z, -m, m, 1.25f * m, m, z}},
  };
  for (const Case& c : cases) expect_bits(qz(x, f, c.r), c.want, x, "e5m2 nosub");
  // Stochastic: only 0 or +-2^-14 below 2^-14.
  for (float v : qz({0.3f * m, -0.7f * m, 1e-40f, -kTiny}, f, Rounding::Stochastic))
    EXPECT_TRUE(std::fabs(v) == 0.0f || std::fabs(v) == m) << v;
}

/// Independent reference for |x| <= 1 (no overflow): grid 2^(e - man) in binade e >= emin,
/// 2^emin below it (no subnormals); rounding per mode, computed in double.
float ref_nosub(float x, int emin, int man, Rounding r) {
  if (x == 0.0f || std::isnan(x)) return x;
  const double a = std::fabs(static_cast<double>(x));
  int e;
  std::frexp(a, &e);
  e -= 1;  // a in [2^e, 2^(e+1))
  const double q = std::ldexp(1.0, e < emin ? emin : e - man);
  const double k = a / q;  // exact: a power-of-two scaling
  const bool neg = std::signbit(x);
  double rk;
  switch (r) {
    case Rounding::Nearest: rk = std::floor(k + 0.5); break;  // ties away (k >= 0)
    case Rounding::NearestEven: rk = std::nearbyint(k); break;
    case Rounding::TowardZero: rk = std::floor(k); break;
    case Rounding::Up: rk = neg ? std::floor(k) : std::ceil(k); break;
    default: rk = neg ? std::ceil(k) : std::floor(k); break;  // Down
  }
  return static_cast<float>(std::copysign(rk * q, static_cast<double>(x)));
}

TEST(SubnormalsOff, WideSampleAgainstIndependentReference) {
  std::vector<float> x;
  for (float v : wide_sample(65537))
    if (std::fabs(v) <= 1.0f) x.push_back(v);
  for (auto [e, man] : {std::pair{8, 7}, std::pair{8, 0}, std::pair{8, 22}, std::pair{5, 2},
                        std::pair{4, 3}, std::pair{6, 10}})
    for (Rounding r : {Rounding::Nearest, Rounding::NearestEven, Rounding::TowardZero,
                       Rounding::Up, Rounding::Down}) {
      FloatingPoint f{.exp = e, .man = man, .subnormals = false};
      std::vector<float> want(x.size());
      for (size_t i = 0; i < x.size(); ++i) want[i] = ref_nosub(x[i], f.emin(), man, r);
      expect_bits(qz(x, f, r), want, x, to_string(Number{f}).c_str());
    }
}

TEST(SubnormalsOff, FastKernelsMatchCore) {
  if (!quantize_cpu_has_fast_kernels()) GTEST_SKIP() << "no AVX-512 kernels in this build";
  // Every float32 subnormal pattern below 2^16, the top ones, ties, and values around 2^emin.
  std::vector<float> x;
  for (uint32_t u = 0; u < (1u << 16); ++u) x.push_back(float_of(u));
  for (uint32_t u = 0x7f0000u; u <= 0x800100u; ++u) x.push_back(float_of(u | 0x80000000u));
  for (int e = -140; e <= -10; ++e)
    for (int d = -2; d <= 2; ++d) x.push_back(float_of(bits_of(std::ldexp(1.0f, e)) + d));
  x.push_back(1e-40f);
  x.push_back(-1e-40f);
  x.push_back(kInf);
  x.push_back(kNaN);
  x.push_back(1e30f);
  x.push_back(0.5f);  // odd-length tail
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<FloatingPoint> fmts = {bf16_nosub(), {.exp = 8, .man = 0, .subnormals = false},
                                     {.exp = 8, .man = 22, .subnormals = false},
                                     {.exp = 8, .man = 7, .range = FloatRange::Extended,
                                      .subnormals = false, .saturate = false},
                                     {.exp = 5, .man = 2, .subnormals = false},
                                     {.exp = 4, .man = 3, .range = FloatRange::FiniteNaN,
                                      .subnormals = false}};
  for (const FloatingPoint& f : fmts)
    for (Rounding r : {Rounding::Stochastic, Rounding::Nearest, Rounding::NearestEven,
                       Rounding::TowardZero, Rounding::Up, Rounding::Down}) {
      const QuantParams p = make_quant_params(f, r, {n});
      std::vector<float> y1(x.size()), y2(x.size()), m1(x.size()), m2(x.size());
      QuantStats s1, s2;
      quantize_cpu(x.data(), y1.data(), m1.data(), n, p, 7, 3, &s1);
      quantize_cpu_reference(x.data(), y2.data(), m2.data(), n, p, 7, 3, &s2);
      expect_bits(y1, y2, x, to_string(Number{f}).c_str());
      expect_bits(m1, m2, x, "mask");
      EXPECT_EQ(s1.flushed, s2.flushed) << to_string(Number{f}) << " " << r;
      EXPECT_EQ(s1.clamped, s2.clamped) << to_string(Number{f}) << " " << r;
      std::vector<float> y3(x.size());
      quantize_cpu(x.data(), y3.data(), nullptr, n, p, 7, 3, nullptr);
      expect_bits(y3, y2, x, "untracked");
    }
}

}  // namespace
}  // namespace qtorch::quant::test
