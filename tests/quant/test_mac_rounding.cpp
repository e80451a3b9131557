// The roundings of qmatmul's chain (quant/mac_core.h) from the nearest double's or
// float32's bits, against the exact path they stand in for: TwoSum, round-to-odd and
// round_double_to_format, which tests/quant/test_qmatmul_reference.cpp checks against exact dyadic
// arithmetic.
// GCC 12 reports the intrinsics' _mm512_undefined_epi32 placeholders as uninitialized
// where they inline into this file's helper (a false positive; the library's own build of
// the same header is silent): the header's lines are exempt.
#if defined(__x86_64__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

#include "qtorch/quant/cpu/qmatmul_float_lanes.h"
#include "qtorch/quant/cpu/qmatmul_stochastic_lanes.h"

#include <gtest/gtest.h>

#include <array>
#include <cfloat>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "qtorch/quant/mac.h"
#include "qtorch/quant/mac_core.h"
#include "qtorch/quant/number.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/quant/round_kind_dispatch.h"
#include "qtorch/quant/rounding.h"
#include "quant_test_util.h"

namespace qtorch::quant::test {
namespace {

#if QTORCH_QUANT_AVX512
/// The CPU's stochastic qmatmul lanes (quant/cpu/qmatmul_stochastic_lanes.h) on x + y with
/// word rnd in every lane: false where they leave the sum to the core.
[[gnu::noinline]] bool stochastic_lanes_round(double x, double y, uint32_t rnd, const QuantParams& p, float& out) {
  __mmask8 rare;
  const __m512d r = cpu::stochastic_sum_lanes(_mm512_set1_pd(x), _mm512_set1_pd(y), _mm512_set1_epi64(rnd), 0xff,
                                              cpu::StochasticFormat(p), rare);
  out = static_cast<float>(_mm512_cvtsd_f64(r));
  return rare == 0;
}
#endif

/// The random words to try a rounding in mode K with: 0 unless K is stochastic; then the
/// words around its threshold F (the first word that does not round up, found by bisection
/// on `exact`, the exact path's result for a word), 2^31, 2^32 - 1 and a random one.
template <RoundKind K, class Exact>
std::vector<uint32_t> test_words(const Exact& exact, std::mt19937_64& gen) {
  if constexpr (K != RoundKind::Stochastic) {
    return {0u};
  } else {
    const uint32_t never_up = bits_of(exact(0xffffffffu));
    uint64_t lo = 0, hi = 0xffffffffu;
    while (lo < hi) {
      const uint64_t mid = (lo + hi) / 2;
      if (bits_of(exact(static_cast<uint32_t>(mid))) == never_up)
        hi = mid;
      else
        lo = mid + 1;
    }
    std::vector<uint32_t> words = {0x80000000u, 0xffffffffu, static_cast<uint32_t>(gen())};
    for (uint64_t w : {lo - 1, lo, lo + 1})
      if (w <= 0xffffffffu) words.push_back(static_cast<uint32_t>(w));
    return words;
  }
}

TEST(QmatmulReference, SumRoundedFromTheNearestDoubleAsThroughTheExactPath) {
  // mac_round_sum rounds x + y from the double nearest the sum where round_sum_by_bits can
  // (quant/mac_core.h); the exact path (TwoSum, round-to-odd, round_double_to_format) is
  // checked against the exact reference of test_qmatmul_reference.cpp. Sums on and one double ulp
  // around every decision point near 1, 2^emin and max (grid values and midpoints), each
  // plus a tiny second term of either sign or none; random sums of a product and a value,
  // and of a product of short operands and a short value (exact sums, as quantized
  // training has).
  // Stochastic rounding with words 0, 2^31, 2^32 - 1 and around the exact path's
  // threshold F (found by bisection: it rounds up exactly when the word is below F), also
  // through the CPU's stochastic lanes (quant/cpu/qmatmul_stochastic_lanes.h).
  std::mt19937_64 gen(5);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int> exponent(-30, 30);
  std::uniform_int_distribution<int> short_mantissa(-15, 15);
  const Rounding modes[] = {Rounding::Nearest, Rounding::NearestEven, Rounding::TowardZero,
                            Rounding::Up,      Rounding::Down,        Rounding::Stochastic};
  int64_t by_bits = 0, checked = 0, by_lanes = 0;
  for (const char* acc : {"fp16", "bf16", "float:5:2", "float:4:3:fn", "float:5:7:nosub", "float:8:23", "float:3:0"})
    for (Rounding mode : modes) {
      MacOptions o = parse_mac(std::string("acc=") + acc);
      MacParams m;
      m.acc = make_quant_params(o.accumulate, mode, {1});
      std::vector<std::pair<double, double>> sums;
      const double q1 = std::ldexp(1.0, -m.acc.man);  // the grid step at 1
      const double max = static_cast<double>(bits_float(m.acc.max_bits));
      const double qmax = std::ldexp(1.0, std::ilogb(max) - m.acc.man);
      const double qmin = std::ldexp(1.0, m.acc.emin - m.acc.man);
      for (double base : {1.0, 1.0 + q1, 2.0 - q1, std::ldexp(1.0, m.acc.emin), std::ldexp(1.0, m.acc.emin) + qmin,
                          max - qmax, max})
        for (double half : {0.0, 0.5})
          for (double sign : {1.0, -1.0}) {
            const double quantum = base >= max - qmax ? qmax : (base < 1.0 ? qmin : q1);
            const double point = sign * (base + half * quantum);
            for (double x : {point, std::nextafter(point, 0.0), std::nextafter(point, 2 * point)})
              for (double y : {0.0, std::ldexp(point, -70), -std::ldexp(point, -70)}) sums.emplace_back(x, y);
          }
      for (int i = 0; i < 20000; ++i) {
        const float a = static_cast<float>(normal(gen) * std::ldexp(1.0, exponent(gen) / 3));
        const float b = static_cast<float>(normal(gen));
        const float c = static_cast<float>(normal(gen) * std::ldexp(1.0, exponent(gen) / 3));
        sums.emplace_back(static_cast<double>(a) * static_cast<double>(b), static_cast<double>(c));
        const double sa = std::ldexp(short_mantissa(gen), exponent(gen) / 4);
        const double sb = std::ldexp(short_mantissa(gen), exponent(gen) / 4);
        sums.emplace_back(sa * sb, std::ldexp(short_mantissa(gen) * 37, exponent(gen) / 4 - 6));
      }
      with_round_kind(m.acc.kind, [&](auto kind) {
        constexpr RoundKind K = decltype(kind)::value;
        const auto exact_path = [&](double x, double y, uint32_t rnd) {
          const DoublePair pair = two_sum(x, y);
          uint32_t clamped = 0;
          return round_double_to_format<K>(round_to_odd(pair.s, pair.e), m.acc, rnd, clamped);
        };
        for (const auto& xy : sums) {  // named, not bound: clang 14 cannot capture bindings
          const double x = xy.first, y = xy.second;
          const std::vector<uint32_t> words =
              test_words<K>([&](uint32_t rnd) { return exact_path(x, y, rnd); }, gen);
          for (const uint32_t rnd : words) {
            const float want = exact_path(x, y, rnd);
            const float got = mac_round_sum<K>(m, x, y, rnd);
            float unused;
            by_bits += round_sum_by_bits<K>(x, y, m.acc, rnd, unused) ? 1 : 0;
            ++checked;
            ASSERT_EQ(bits_of(got), bits_of(want))
                << acc << " " << rounding_name(mode) << ": " << x << " + " << y << ", word " << rnd;
#if QTORCH_QUANT_AVX512
            // The CPU's stochastic vector kernel: the same rule on eight lanes, where it decides.
            float lanes;
            if (K == RoundKind::Stochastic && m.acc.man <= 19 && stochastic_lanes_round(x, y, rnd, m.acc, lanes)) {
              ++by_lanes;
              ASSERT_EQ(bits_of(lanes), bits_of(want)) << acc << " lanes: " << x << " + " << y << ", word " << rnd;
            }
#endif
          }
        }
      });
    }
  // Most sums take the bit rule, and some do not (the test reaches both).
  EXPECT_GT(by_bits, checked / 2);
  EXPECT_LT(by_bits, checked);
#if QTORCH_QUANT_AVX512
  EXPECT_GT(by_lanes, 100000);
#endif
}

TEST(QmatmulReference, FmaRoundedFromTheNearestFloatAsThroughTheExactPath) {
  // mac_round_fma rounds the exact a * b + c of three float32 from s = fmaf(a, b, c) where
  // round_fma_by_float_bits can (quant/mac_core.h), else in doubles; the exact path
  // (TwoSum of the exact product and c, round-to-odd, round_double_to_format) is checked
  // against exact arithmetic in test_qmatmul_reference.cpp. c on and one float32 ulp around every
  // decision point near 1, 2^emin and max (grid values and midpoints) and at float32's
  // smallest normal, with a product of either sign far below c's ulp, none, or one that
  // moves the exact value by a quarter of c's float32 ulp; random triples; products of
  // short operands plus a short value (exact sums, as quantized training has); sums x + y
  // as x * 1 + y. The formats include man = 22 (the finest grid the rule takes) and 23
  // (none). A decision point or zero is settled from TwoSum's error where the product is
  // exact in float32 (settle_fma_decision_point).
  std::mt19937_64 gen(6);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int> exponent(-30, 30);
  std::uniform_int_distribution<int> short_mantissa(-15, 15);
  const Rounding modes[] = {Rounding::Nearest, Rounding::NearestEven, Rounding::TowardZero, Rounding::Up,
                            Rounding::Down};
  int64_t by_float = 0, checked = 0, settled = 0;
  for (const char* acc : {"fp16", "bf16", "float:5:2", "float:4:3:fn", "float:5:7:nosub", "float:8:22", "float:8:23",
                          "float:3:0", "float:8:1"})
    for (Rounding mode : modes) {
      MacOptions o = parse_mac(std::string("acc=") + acc);
      MacParams m;
      m.acc = make_quant_params(o.accumulate, mode, {1});
      std::vector<std::array<float, 3>> triples;
      const double q1 = std::ldexp(1.0, -m.acc.man);  // the grid step at 1
      const double max = static_cast<double>(bits_float(m.acc.max_bits));
      const double qmax = std::ldexp(1.0, std::ilogb(max) - m.acc.man);
      const double qmin = std::ldexp(1.0, m.acc.emin - m.acc.man);
      for (double base : {1.0, 1.0 + q1, 2.0 - q1, std::ldexp(1.0, m.acc.emin), std::ldexp(1.0, m.acc.emin) + qmin,
                          max - qmax, max, static_cast<double>(FLT_MIN)})
        for (double half : {0.0, 0.5})
          for (float sign : {1.0f, -1.0f}) {
            const double quantum = base >= max - qmax ? qmax : (base < 1.0 ? qmin : q1);
            const float point = sign * static_cast<float>(base + half * quantum);
            if (!std::isfinite(point)) continue;
            const float ulp = std::nextafter(std::fabs(point), INFINITY) - std::fabs(point);
            for (float c : {point, std::nextafter(point, 0.0f), std::nextafter(point, 2 * point)})
              for (float a : {0.0f, std::ldexp(point, -40), -std::ldexp(point, -40), 0.25f * ulp, -0.25f * ulp})
                triples.push_back({a, 1.0f, c});
          }
      // Overflow, infinities and NaN (a format without a finite max takes float32's).
      for (float x : {FLT_MAX, -FLT_MAX, INFINITY, -INFINITY, static_cast<float>(max)})
        for (float y : {FLT_MAX, -FLT_MAX, INFINITY, -INFINITY, 1.0f, 0.0f})
          triples.push_back({x, 1.0f, y}), triples.push_back({y, 2.0f, x}), triples.push_back({x, 0.0f, y});
      for (int i = 0; i < 20000; ++i) {
        const float a = static_cast<float>(normal(gen) * std::ldexp(1.0, exponent(gen) / 3));
        const float b = static_cast<float>(normal(gen));
        const float c = static_cast<float>(normal(gen) * std::ldexp(1.0, exponent(gen) / 3));
        triples.push_back({a, b, c});
        triples.push_back({c, 1.0f, a});
        const float sa = std::ldexp(static_cast<float>(short_mantissa(gen)), exponent(gen) / 4);
        const float sb = std::ldexp(static_cast<float>(short_mantissa(gen)), exponent(gen) / 4);
        triples.push_back({sa, sb, std::ldexp(static_cast<float>(short_mantissa(gen) * 37), exponent(gen) / 4 - 6)});
      }
      with_round_kind(m.acc.kind, [&](auto kind) {
        constexpr RoundKind K = decltype(kind)::value;
        if constexpr (K != RoundKind::Stochastic) {
          for (const auto& [a, b, c] : triples) {
            const DoublePair pair = two_sum(static_cast<double>(a) * static_cast<double>(b), static_cast<double>(c));
            uint32_t clamped = 0;
            const float want = round_double_to_format<K>(round_to_odd(pair.s, pair.e), m.acc, 0, clamped);
            const float got = mac_round_fma<K>(m, a, b, c, 0);
            float unused;
            const bool taken = round_fma_by_float_bits<K>(a, b, c, m.acc, unused);
            by_float += taken ? 1 : 0;
            ++checked;
            // Taken on a decision point or at zero: settled from TwoSum's error.
            const uint32_t sb = bits_of(std::fma(a, b, c)), low = (1u << (23 - std::min(m.acc.man, 22))) - 1u;
            const bool nearest = K == RoundKind::NearestEven || K == RoundKind::NearestAway || K == RoundKind::NearestUp;
            settled += taken && ((sb & low) == (nearest ? (low + 1u) / 2u : 0u) || (sb << 1) == 0u) ? 1 : 0;
            ASSERT_EQ(bits_of(got), bits_of(want)) << acc << " " << rounding_name(mode) << ": " << a << " * " << b
                                                   << " + " << c;
          }
        }
      });
    }
  // Most take the float32 rule, and some do not (the test reaches both); decision points
  // and zeros are settled where the product is exact.
  EXPECT_GT(by_float, checked / 2);
  EXPECT_LT(by_float, checked);
  EXPECT_GT(settled, 1000);
}

TEST(QmatmulReference, ProductRoundedAsTheExactProduct) {
  // mac_round_product rounds the exact a * b (a double) to the multiply format from the
  // float32 rule on fmaf(a, b, -0), or for stochastic rounding from the double's bits, where
  // those decide; round_double_to_format of the exact product (checked against exact
  // arithmetic in test_qmatmul_reference.cpp) is the reference. Products on and one float32 ulp
  // around every decision point near 1, 2^emin and max (as a * 1 and a * 2); random
  // products; products of short operands (exact in float32, often on a tie); zeros of
  // both signs, products below float32's range, overflow, infinities and NaN. Stochastic
  // rounding with words 0, 2^31, 2^32 - 1, a random one and around the threshold F (by
  // bisection). A fixed-point format takes the reference itself.
  std::mt19937_64 gen(8);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int> exponent(-30, 30);
  std::uniform_int_distribution<int> short_mantissa(-15, 15);
  const Rounding modes[] = {Rounding::Nearest, Rounding::NearestEven, Rounding::TowardZero,
                            Rounding::Up,      Rounding::Down,        Rounding::Stochastic};
  int64_t by_bits = 0, checked = 0;
  for (const char* mul : {"e5m2", "e4m3", "fp16", "bf16", "float:5:7:nosub", "float:8:22", "float:8:23", "float:3:0",
                          "float:4:1:nosat", "fixed:8:4"})
    for (Rounding mode : modes) {
      MacParams m;
      m.has_mul = true;
      m.mul = make_quant_params(*parse_number(mul), mode, {1});
      const bool floating = m.mul.family == QuantFamily::Float;
      std::vector<std::pair<float, float>> products;
      if (floating) {
        const double q1 = std::ldexp(1.0, -m.mul.man);
        const double max = static_cast<double>(bits_float(float32_top_bits(m.mul)));
        const double qmax = std::ldexp(1.0, std::ilogb(max) - m.mul.man);
        const double qmin = std::ldexp(1.0, m.mul.emin - m.mul.man);
        for (double base : {1.0, 1.0 + q1, 2.0 - q1, std::ldexp(1.0, m.mul.emin), std::ldexp(1.0, m.mul.emin) + qmin,
                            max - qmax, max})
          for (double half : {0.0, 0.5})
            for (float sign : {1.0f, -1.0f}) {
              const double quantum = base >= max - qmax ? qmax : (base < 1.0 ? qmin : q1);
              const float point = sign * static_cast<float>(base + half * quantum);
              if (!std::isfinite(point)) continue;
              for (float a : {point, std::nextafter(point, 0.0f), std::nextafter(point, 2 * point)})
                products.emplace_back(a, 1.0f), products.emplace_back(0.5f * a, 2.0f);
            }
      }
      for (float x : {0.0f, -0.0f, 1e-30f, -1e-30f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY, NAN, 3.0f})
        for (float y : {0.0f, -0.0f, 1e-30f, 3e-20f, FLT_MAX, -INFINITY, NAN, -5.0f})
          products.emplace_back(x, y);
      for (int i = 0; i < 20000; ++i) {
        products.emplace_back(static_cast<float>(normal(gen) * std::ldexp(1.0, exponent(gen) / 3)),
                              static_cast<float>(normal(gen)));
        products.emplace_back(std::ldexp(static_cast<float>(short_mantissa(gen)), exponent(gen) / 4),
                              std::ldexp(static_cast<float>(short_mantissa(gen)), exponent(gen) / 4));
      }
      with_round_kind(m.mul.kind, [&](auto kind) {
        constexpr RoundKind K = decltype(kind)::value;
        const auto exact_path = [&](float a, float b, uint32_t rnd) {
          uint32_t clamped = 0;
          return round_double_to_format<K>(static_cast<double>(a) * static_cast<double>(b), m.mul, rnd, clamped);
        };
        for (const auto& ab : products) {  // named, not bound: clang 14 cannot capture bindings
          const float a = ab.first, b = ab.second;
          const std::vector<uint32_t> words =
              test_words<K>([&](uint32_t rnd) { return exact_path(a, b, rnd); }, gen);
          for (const uint32_t rnd : words) {
            const float want = exact_path(a, b, rnd);
            const float got = mac_round_product<K>(m, a, b, rnd);
            float unused;
            if (floating) {
              if constexpr (K == RoundKind::Stochastic)
                by_bits += round_sum_by_bits<K>(static_cast<double>(a) * b, 0.0, m.mul, rnd, unused) ? 1 : 0;
              else
                by_bits += round_fma_by_float_bits<K>(a, b, -0.0f, m.mul, unused) ? 1 : 0;
            }
            ++checked;
            ASSERT_EQ(bits_of(got), bits_of(want))
                << mul << " " << rounding_name(mode) << ": " << a << " * " << b << ", word " << rnd;
          }
        }
      });
    }
  // Most products take a bit rule, and some do not (the test reaches both).
  EXPECT_GT(by_bits, checked / 2);
  EXPECT_LT(by_bits, checked);
}

TEST(QmatmulReference, SumsNearFloat32sMaxRoundAsTheExactPath) {
  // c off the grid near float32's max (-FLT_MAX and its neighbours) plus a product of the
  // other sign with an odd last float32 bit (2^103 steps): fmaf's float lies on a decision
  // point, and TwoSum's s - product overflows, so its error is not finite. The float32 rule
  // (mac_round_fma) and the AVX-512 lanes (fma_round_lanes) must then leave the sum to the
  // exact path, not move s by a NaN's sign. Found by RandomOperandsOfEveryKind... with
  // QTORCH_EXHAUSTIVE=1.
  std::mt19937_64 gen(12);
  int64_t checked = 0;
  for (const char* acc : {"float:8:22", "float:8:20", "float:8:7", "float:8:1"})
    for (Rounding mode : {Rounding::Nearest, Rounding::NearestEven, Rounding::TowardZero, Rounding::Up, Rounding::Down}) {
      MacParams m;
      m.acc = make_quant_params(*parse_number(acc), mode, {1});
      with_round_kind(m.acc.kind, [&](auto kind) {
        constexpr RoundKind K = decltype(kind)::value;
        if constexpr (K != RoundKind::Stochastic) {
          for (int i = 0; i < 2000; ++i) {
            const float sign = i % 2 ? 1.0f : -1.0f;
            const float c = -sign * bits_float(0x7f7fffffu - static_cast<uint32_t>(gen() % 3));
            const float a = sign * bits_float((0x7e800000u + static_cast<uint32_t>(gen() % 0x800000u)) | 1u);
            const float b = i % 3 == 0 ? 1.0f : 0.5f;
            const DoublePair sum = two_sum(static_cast<double>(a) * static_cast<double>(b), static_cast<double>(c));
            uint32_t clamped = 0;
            const float want = round_double_to_format<K>(round_to_odd(sum.s, sum.e), m.acc, 0, clamped);
            ASSERT_EQ(bits_of(mac_round_fma<K>(m, a, b, c, 0)), bits_of(want))
                << acc << " " << rounding_name(mode) << ": " << a << " * " << b << " + " << c;
#if QTORCH_QUANT_AVX512
            const __m512 lanes = cpu::fma_round_lanes<K>(_mm512_set1_ps(a), _mm512_set1_ps(b), _mm512_set1_ps(c), 0xffff,
                                                         cpu::FloatFormat::of<K>(m.acc), cpu::DoubleFormat(m.acc));
            ASSERT_EQ(bits_of(_mm512_cvtss_f32(lanes)), bits_of(want))
                << "lanes " << acc << " " << rounding_name(mode) << ": " << a << " * " << b << " + " << c;
#endif
            ++checked;
          }
        }
      });
    }
  EXPECT_EQ(checked, 4 * 5 * 2000);
}

/// A float32 of one of four kinds, for the random soak below: any bit pattern (NaN, inf and
/// subnormals included); a short mantissa over 2^-40..2^40; one of a few float32 steps or
/// half-steps of p's grid around 2^emin, p's max, float32's smallest normal, 1 or p's
/// smallest subnormal, either sign; a full mantissa over float32's whole exponent range.
float soak_operand(std::mt19937_64& gen, const QuantParams& p) {
  switch (gen() % 4) {
    case 0:
      return bits_float(static_cast<uint32_t>(gen()));
    case 1:
      return std::ldexp(static_cast<float>(static_cast<int>(gen() % 64) - 32), static_cast<int>(gen() % 80) - 40);
    case 2: {
      const double bases[] = {std::ldexp(1.0, p.emin), static_cast<double>(bits_float(float32_top_bits(p))),
                              static_cast<double>(FLT_MIN), 1.0, std::ldexp(1.0, p.emin - p.man)};
      const uint32_t step = gen() % 2 ? 1u : (1u << (23 - std::min(p.man, 23))) >> 1;
      const float base = static_cast<float>(bases[gen() % 5]);
      const float x = bits_float(bits_of(base) + static_cast<uint32_t>(static_cast<int>(gen() % 9) - 4) * step);
      return gen() % 2 ? -x : x;
    }
    default:
      return std::ldexp(static_cast<float>(static_cast<int64_t>(gen() >> 40) - (int64_t{1} << 23)),
                        static_cast<int>(gen() % 300) - 173);
  }
}

TEST(QmatmulReference, RandomOperandsOfEveryKindRoundAsTheExactPath) {
  // mac_round_fma and mac_round_product against the exact path (TwoSum, round-to-odd,
  // round_double_to_format) on random operands of soak_operand's four kinds, a multiplier
  // of 1 one time in five (a sum), and an accumulator cut to a multiple of 2^-10 one time in
  // seven (on a grid point, with a product that may be tiny), with a random word, in every
  // mode and 17 formats (IEEE, saturating, custom bias, no subnormals). 20 000 operand
  // triples per format and mode; 10^6 with QTORCH_EXHAUSTIVE=1 (about 15 s).
  const int64_t triples = std::getenv("QTORCH_EXHAUSTIVE") != nullptr ? 1000000 : 20000;
  std::mt19937_64 gen(10);
  const Rounding modes[] = {Rounding::Nearest, Rounding::NearestEven, Rounding::TowardZero,
                            Rounding::Up,      Rounding::Down,        Rounding::Stochastic};
  for (const char* format : {"fp16", "bf16", "float:5:2", "float:4:3:fn", "float:5:7:nosub", "float:8:22",
                             "float:8:23", "float:3:0", "float:8:1", "float:2:1", "float:8:19", "float:8:20", "e4m3_sat",
                             "hfp8", "float:5:2:ieee", "float:4:3:ieee:nosat", "float:5:10:bias=20"})
    for (Rounding mode : modes) {
      MacParams m;
      m.acc = m.mul = make_quant_params(*parse_number(format), mode, {1});
      m.has_mul = true;
      with_round_kind(m.acc.kind, [&](auto kind) {
        constexpr RoundKind K = decltype(kind)::value;
        for (int64_t i = 0; i < triples; ++i) {
          const float a = soak_operand(gen, m.acc);
          const float b = gen() % 5 == 0 ? 1.0f : soak_operand(gen, m.acc);
          float c = soak_operand(gen, m.acc);
          if (gen() % 7 == 0) c = static_cast<float>(std::ldexp(std::floor(std::ldexp(static_cast<double>(c), 10)), -10));
          const uint32_t rnd = static_cast<uint32_t>(gen());
          const double product = static_cast<double>(a) * static_cast<double>(b);
          const DoublePair sum = two_sum(product, static_cast<double>(c));
          uint32_t clamped = 0;
          const float want_sum = round_double_to_format<K>(round_to_odd(sum.s, sum.e), m.acc, rnd, clamped);
          const float want_product = round_double_to_format<K>(product, m.mul, rnd, clamped);
          ASSERT_EQ(bits_of(mac_round_fma<K>(m, a, b, c, rnd)), bits_of(want_sum))
              << format << " " << rounding_name(mode) << ": " << a << " * " << b << " + " << c << ", word " << rnd;
          ASSERT_EQ(bits_of(mac_round_product<K>(m, a, b, rnd)), bits_of(want_product))
              << format << " " << rounding_name(mode) << ": " << a << " * " << b << ", word " << rnd;
        }
      });
    }
}

}  // namespace
}  // namespace qtorch::quant::test
