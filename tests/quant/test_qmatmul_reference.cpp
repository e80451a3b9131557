// qmatmul (docs/numerics.md, "Low-precision multiply-accumulate") against an independent
// reference: every value m * 2^e with a 128-bit m, every product and sum exact, each rounded
// to its format by the rules of docs/numerics.md, on random small matrices in every mode and
// option, stochastic ones with the random words of the documented layout.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "qtorch/core/philox.h"
#include "qtorch/quant/mac.h"
#include "qtorch/quant/mac_core.h"
#include "qtorch/quant/quantize.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

using i128 = __int128;

// The exact reference: values m * 2^e with a 128-bit m.
struct Dyadic {
  i128 m = 0;  // signed
  int e = 0;
};
// With m odd (or 0): the fewest bits, so sums and shifts stay far inside 128 bits.
Dyadic normal(Dyadic v) {
  if (v.m == 0) return {};
  while ((v.m & 1) == 0) {
    v.m /= 2;
    ++v.e;
  }
  return v;
}
Dyadic dyadic(double v) {
  if (v == 0) return {};
  int e;
  const double f = std::frexp(v, &e);
  return normal({static_cast<i128>(std::ldexp(f, 53)), e - 53});
}
Dyadic add(Dyadic a, Dyadic b) {
  if (a.m == 0) return b;
  if (b.m == 0) return a;
  const int e = std::min(a.e, b.e);
  return normal({(a.m << (a.e - e)) + (b.m << (b.e - e)), e});
}
Dyadic negate(Dyadic a) { return {-a.m, a.e}; }
Dyadic multiply(float x, float y) {
  const Dyadic a = dyadic(x), b = dyadic(y);
  return normal({a.m * b.m, a.e + b.e});
}

// Rounds the exact value to a format, from docs/numerics.md: to the format's values that
// float32 holds, once; past float32's range as float32 overflows.
struct FormatRef {
  bool fixed;
  int man = 0, emin = 0, fl = 0;
  double max = 0, lo = 0, hi = 0;
  double top = 0;  // the largest value of the grid that float32 holds
  bool saturate = true, ieee = false, finite_nan = false, subnormals = true;
};
constexpr double kFloat32Max = 0x1.fffffep127;
FormatRef format_ref(const Number& n) {
  FormatRef f{};
  if (const auto* x = std::get_if<FixedPoint>(&n)) {
    f.fixed = true;
    f.fl = x->fl;
    // The range's ends as float32 values: t_max rounded down (it is not one past 25 bits).
    const double t_max = qtorch::testing::format_max(n);
    float hi = static_cast<float>(t_max);
    if (hi > t_max) hi = std::nextafter(hi, 0.0f);
    f.hi = hi;
    f.lo = x->symmetric ? -f.hi : -std::ldexp(1.0, x->wl - x->fl - 1);
    if (!x->clamp) f.hi = INFINITY, f.lo = -INFINITY;
    // The largest float32 that is a multiple of 2^-fl.
    f.top = std::floor(kFloat32Max * std::ldexp(1.0, x->fl)) * std::ldexp(1.0, -x->fl);
    return f;
  }
  const auto& x = std::get<FloatingPoint>(n);
  f.fixed = false;
  f.man = x.man;
  f.emin = x.emin();
  f.max = qtorch::testing::format_max(n);
  f.saturate = x.saturate;
  f.ieee = x.range == FloatRange::IEEE;
  f.finite_nan = x.range == FloatRange::FiniteNaN;
  f.subnormals = x.subnormals;
  f.top = f.max <= kFloat32Max ? f.max : std::ldexp(2.0 - std::ldexp(1.0, -f.man), 127);
  return f;
}

int bit_length(i128 v) {
  int n = 0;
  for (; v > 0; v >>= 1) ++n;
  return n;
}

float round_ref(Dyadic v, const FormatRef& f, Rounding mode, uint32_t rnd) {
  const bool neg = v.m < 0;
  const i128 mag = neg ? -v.m : v.m;
  if (mag == 0) return 0.0f;  // every exact zero here is +0 (sums start at +0)
  const int e = bit_length(mag) - 1 + v.e;  // floor(log2 |v|)
  int q;
  if (f.fixed) {
    q = std::max(-f.fl, std::max(e, -126) - 23);  // the multiples of 2^-fl that float32 holds
  } else {
    q = e >= f.emin ? e - f.man : (f.subnormals ? f.emin - f.man : f.emin);
  }
  // k = floor(mag * 2^(v.e - q)), rem / den the fraction.
  i128 k, rem, den;
  const int d = v.e - q;
  if (d >= 0) {
    k = mag << d, rem = 0, den = 1;
  } else {
    den = i128{1} << -d;
    k = mag >> -d;
    rem = mag - (k << -d);
  }
  bool up = false;
  const bool ties_away = !f.fixed;  // Nearest: fixed point ties to even, floating point away
  switch (mode) {
    case Rounding::Nearest:
      up = ties_away ? 2 * rem >= den && rem > 0 : (2 * rem > den || (2 * rem == den && (k & 1)));
      break;
    case Rounding::NearestEven: up = 2 * rem > den || (2 * rem == den && (k & 1)); break;
    case Rounding::TowardZero: break;
    case Rounding::Up: up = rem > 0 && !neg; break;
    case Rounding::Down: up = rem > 0 && neg; break;
    case Rounding::Stochastic: up = static_cast<i128>(rnd) * den < (rem << 32); break;
  }
  const double r = std::ldexp(static_cast<double>(k + (up ? 1 : 0)), q);
  const double y = neg ? -r : r;
  const bool toward_zero = mode == Rounding::TowardZero || (mode == Rounding::Up && neg) ||
                           (mode == Rounding::Down && !neg);
  if (f.fixed && (y > f.hi || y < f.lo)) return static_cast<float>(y > f.hi ? f.hi : f.lo);
  if (r > f.top) {
    double o;
    if (toward_zero) o = f.top;
    else if (f.fixed || f.max > kFloat32Max) o = INFINITY;  // float32's own overflow
    else if (f.saturate) o = f.max;
    else if (f.finite_nan) return NAN;  // positive
    else o = INFINITY;
    return static_cast<float>(neg ? -o : o);
  }
  return static_cast<float>(y);  // exact
}

// A value of the chain: exact (a dyadic) or special (inf, NaN), with IEEE rules for specials.
struct Value {
  Dyadic exact;
  double special = 0;  // nonzero: inf or NaN
  bool is_special() const { return special != 0; }
};
Value value_of(float x) { return std::isfinite(x) ? Value{dyadic(x), 0} : Value{{}, static_cast<double>(x)}; }
Value plus(const Value& a, const Value& b) {
  if (!a.is_special() && !b.is_special()) return {add(a.exact, b.exact), 0};
  const double sa = a.is_special() ? a.special : 0.0, sb = b.is_special() ? b.special : 0.0;
  return {{}, sa + sb};  // inf + finite = inf, inf - inf = NaN, NaN stays
}
Value minus(const Value& a) { return a.is_special() ? Value{{}, -a.special} : Value{negate(a.exact), 0}; }

// A special value rounded to a format: NaN stays; inf per the format's range rule.
float round_special(double v, const FormatRef& f) {
  if (std::isnan(v)) return NAN;
  const bool neg = v < 0;
  double r;
  if (f.fixed) return static_cast<float>(neg ? f.lo : f.hi);
  if (f.ieee || f.max > kFloat32Max) r = INFINITY;  // past float32's range an inf stays inf
  else if (f.saturate) r = f.max;
  else if (f.finite_nan) return NAN;  // positive
  else r = INFINITY;
  return static_cast<float>(neg ? -r : r);
}

struct RefMac {
  std::optional<FormatRef> mul;
  FormatRef acc;
  Rounding mul_mode, acc_mode;
  MacOptions o;
};

/// word(k, r): the random word of rounding r (0 product, 1 sum, 2-4 Kahan's others) of step k.
float ref_chain(const std::vector<float>& a, const std::vector<float>& b, const RefMac& r,
                const std::function<uint32_t(int64_t, int64_t)>& word) {
  const int64_t K = static_cast<int64_t>(a.size());
  auto round_to = [&](const Value& v, const FormatRef& f, Rounding mode, int64_t k, int64_t rounding) {
    return v.is_special() ? round_special(v.special, f) : round_ref(v.exact, f, mode, word(k, rounding));
  };
  auto acc = [&](const Value& v, int64_t k, int64_t rounding) { return round_to(v, r.acc, r.acc_mode, k, rounding); };
  auto run = [&](int64_t k0, int64_t k1) {
    float c = 0, comp = 0;
    for (int64_t k = k0; k < k1; ++k) {
      Value p{multiply(a[k], b[k]), 0};
      if (r.mul) p = value_of(round_to(p, *r.mul, r.mul_mode, k, 0));
      if (!r.o.compensated) {
        c = acc(plus(value_of(c), p), k, 1);
        continue;
      }
      const float y = acc(plus(p, minus(value_of(comp))), k, 1);
      const float t = acc(plus(value_of(c), value_of(y)), k, 2);
      const float u = acc(plus(value_of(t), minus(value_of(c))), k, 3);
      comp = acc(plus(value_of(u), minus(value_of(y))), k, 4);
      c = t;
    }
    return c;
  };
  if (r.o.chunk == 0) return run(0, K);
  float total = 0;
  for (int64_t k0 = 0, c = 0; k0 < K; k0 += r.o.chunk, ++c)
    total = acc(plus(value_of(total), value_of(run(k0, std::min(K, k0 + r.o.chunk)))), K + c, 1);
  return total;
}

/// qmatmul_forward against ref_chain for every accumulator of `accs` with every option of
/// `extras` (text appended to "acc=...") in each accumulate rounding (the multiply rounding
/// cycling through the modes), on random [3, 11] x [11, 4] operands from `operand`. Returns
/// the number of combinations.
int expect_reference_bits(const std::vector<std::string>& accs, const std::vector<std::string>& extras,
                          const std::function<float(std::mt19937&)>& operand, uint32_t seed) {
  std::mt19937 gen(seed);
  const Rounding modes[] = {Rounding::Nearest, Rounding::NearestEven, Rounding::TowardZero,
                            Rounding::Up,      Rounding::Down,        Rounding::Stochastic};
  int cases = 0;
  for (const std::string& acc : accs)
    for (const std::string& extra : extras)
      for (Rounding mode : modes) {
        MacOptions o = parse_mac("acc=" + acc + extra);
        o.accumulate_rounding = mode;
        o.multiply_rounding = modes[(cases + 2) % 6];
        const int64_t M = 3, K = 11, N = 4;
        std::vector<float> av(M * K), bv(K * N);
        for (auto* v : {&av, &bv})
          for (float& x : *v) x = operand(gen);
        const Tensor A = Tensor::from_vector(av, {M, K}), B = Tensor::from_vector(bv, {K, N});
        Generator g(99);
        const uint64_t offset = g.offset();
        const std::vector<float> got = qmatmul_forward(A, B, o, &g).to_vector();
        RefMac r{o.multiply ? std::optional<FormatRef>(format_ref(*o.multiply)) : std::nullopt,
                 format_ref(o.accumulate), o.multiply_rounding, o.accumulate_rounding, o};
        // The words' layout (docs/numerics.md): rows of S words per rounding, S the steps
        // (K and one per chunk) rounded up to a multiple of 4.
        const int64_t steps = K + (o.chunk ? (K + o.chunk - 1) / o.chunk : 0);
        const int64_t S = (steps + 3) / 4 * 4, slots = 5 * S;
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            std::vector<float> row(av.begin() + i * K, av.begin() + (i + 1) * K), col(K);
            for (int64_t k = 0; k < K; ++k) col[k] = bv[k * N + j];
            const uint64_t first = static_cast<uint64_t>((i * N + j) * slots);
            const float want = ref_chain(row, col, r, [&](int64_t k, int64_t rounding) {
              return philox_bits(99, offset, first + static_cast<uint64_t>(rounding * S + k));
            });
            // Bit for bit; a NaN is the positive quiet NaN.
            const bool ok = std::isnan(want) ? qtorch::testing::bits_of(got[i * N + j]) == 0x7fc00000u
                                             : same(got[i * N + j], want);
            EXPECT_TRUE(ok) << mac_text(o) << " element (" << i << ", " << j << "): got "
                            << qtorch::testing::describe_float(got[i * N + j]) << ", want "
                            << qtorch::testing::describe_float(want);
            if (!ok) return cases;
          }
        ++cases;
      }
  return cases;
}

TEST(QmatmulReference, RandomSmallMatricesBitForBit) {
  std::uniform_int_distribution<int> exponent(-8, 8), mantissa(-64, 64);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const std::vector<std::string> accs = {"fp16", "bf16", "float:5:2", "float:4:3:fn", "float:5:7:nosub",
                                         "fixed:16:8", "fixed:12:6:noclamp:symmetric"};
  const std::vector<std::string> extras = {"", ",mul=float:5:2", ",mul=float:4:3", ",chunk=3", ",kahan", ",fma"};
  const int cases = expect_reference_bits(accs, extras, [&](std::mt19937& gen) {
    return gen() % 3 == 0 ? std::ldexp(static_cast<float>(mantissa(gen)), exponent(gen) - 4)
                          : normal(gen) * std::ldexp(1.0f, exponent(gen) / 2);
  }, 17);
  EXPECT_EQ(cases, 7 * 6 * 6);
}

// Past float32's range (products up to 2^132: a floating format whose exponents reach 2^128,
// fixed point without clamp) and past 2^24 with fractions below float32's step (fixed point
// whose grid is finer than float32's there). Every exact value stays within 80 bits here.
TEST(QmatmulReference, PastFloat32sRangeAndStepBitForBit) {
  std::uniform_int_distribution<int> mantissa(1, 64), huge(40, 60), bits24(24, 27), sign(0, 1);
  const std::vector<std::string> extras = {"", ",mul=float:8:7", ",mul=fixed:6:3:noclamp", ",chunk=3", ",kahan", ",fma"};
  const int wide = expect_reference_bits({"float:8:23", "float:8:7", "float:8:22", "float:8:10:nosub", "fixed:8:4:noclamp"},
                                         extras, [&](std::mt19937& gen) {
    return (sign(gen) ? -1.0f : 1.0f) * std::ldexp(static_cast<float>(mantissa(gen)), huge(gen));
  }, 23);
  EXPECT_EQ(wide, 5 * 6 * 6);
  // Near 2^24 to 2^27 with parts of 2^-6: a's large and fractional, b's small integers.
  const int fine = expect_reference_bits({"fixed:8:4:noclamp", "fixed:8:0:noclamp", "fixed:40:2", "fixed:30:4:noclamp",
                                          "fixed:32:16", "fixed:26:1"},
                                         {"", ",mul=fixed:6:3:noclamp", ",chunk=3", ",kahan", ",fma"}, [&](std::mt19937& gen) {
    const float s = sign(gen) ? -1.0f : 1.0f;
    switch (gen() % 3) {
      case 0: return s * std::ldexp(static_cast<float>(mantissa(gen) + 64 * mantissa(gen)), bits24(gen) - 12);
      case 1: return s * std::ldexp(static_cast<float>(mantissa(gen)), -6);
      default: return s * static_cast<float>(mantissa(gen) % 4 + 1);
    }
  }, 29);
  EXPECT_EQ(fine, 6 * 5 * 6);
}

}  // namespace
}  // namespace qtorch::quant::test
