// Format introspection in double arithmetic, written from docs/numerics.md ("Fixed point",
// "Block floating point", "Floating point"), not from quant/rounding_core.h.
#include "qtorch/testing/grid.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "qtorch/core/error.h"

namespace qtorch::testing {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// floor(log2 a) for a finite a > 0 (float32 subnormals included).
int floor_log2(double a) {
  int e;
  std::frexp(a, &e);
  return e - 1;
}

// Magnitude neighbours on the grid of multiples of 2^q: (floor, ceil).
std::pair<double, double> round_magnitude(double a, int q) {
  const double s = std::ldexp(1.0, q);
  const double lo = std::floor(a / s) * s;
  return {lo, lo == a ? a : lo + s};
}

// Signed neighbours from magnitude neighbours; zeros take x's sign.
GridNeighbours signed_pair(float x, double lo, double hi) {
  const auto cast = [x](double v) { return std::copysign(static_cast<float>(v), x); };
  if (std::signbit(x)) return {cast(hi), cast(lo)};
  return {cast(lo), cast(hi)};
}

struct FixedRange {
  double s, t_max, t_min;
};
FixedRange fixed_range(const FixedPoint& f) {
  const double s = std::ldexp(1.0, -f.fl);
  const double top = std::ldexp(1.0, f.wl - f.fl - 1);
  double t_max = top - s;
  if (static_cast<double>(static_cast<float>(t_max)) != t_max) t_max = (1.0 - std::ldexp(1.0, -24)) * top;
  return {s, t_max, f.symmetric ? -t_max : -top};
}

int float_emax(const FloatingPoint& f) {
  const int top_code = (1 << f.exp) - 1;
  return (f.range == FloatRange::IEEE ? top_code - 1 : top_code) - f.effective_bias();
}
double float_max(const FloatingPoint& f) {
  const int lost = f.range == FloatRange::FiniteNaN ? 1 - f.man : -f.man;
  return std::ldexp(2.0 - std::ldexp(1.0, lost), float_emax(f));
}
int float_quantum_exponent(double a, const FloatingPoint& f) {
  const int emin = f.emin();
  const int e = a > 0 ? floor_log2(a) : emin - 1;
  if (e >= emin) return e - f.man;
  return f.subnormals ? emin - f.man : emin;
}

float need_block_max(const char* fn, std::optional<float> block_max) {
  QTORCH_CHECK(block_max.has_value(),
               "testing::{}: expected block_max for a BlockFloatingPoint or MXFormat (its grid depends on the "
               "block's largest magnitude), got none",
               fn);
  return *block_max;
}
int block_quantum_exponent(float block_max, const BlockFloatingPoint& b) {
  return block_exponent(block_max) + 2 - b.wl;
}

GridNeighbours fixed_neighbours(float x, const FixedPoint& f) {
  const FixedRange r = fixed_range(f);
  if (std::isinf(x)) {
    if (!f.clamp) return {x, x};
    const float end = static_cast<float>(x > 0 ? r.t_max : r.t_min);
    return {end, end};
  }
  double lo = std::floor(x / r.s) * r.s, hi = std::ceil(x / r.s) * r.s;
  if (f.clamp) {
    lo = std::min(std::max(lo, r.t_min), r.t_max);
    hi = std::min(std::max(hi, r.t_min), r.t_max);
  }
  const auto cast = [x](double v) { return v == 0 ? std::copysign(0.0f, x) : static_cast<float>(v); };
  return {cast(lo), cast(hi)};
}

GridNeighbours float_neighbours(float x, const FloatingPoint& f) {
  const double max = float_max(f);
  const float overflow = f.saturate ? static_cast<float>(max) : (f.range == FloatRange::FiniteNaN ? kNaN : kInf);
  if (std::isinf(x)) {
    const float v = f.range == FloatRange::IEEE ? kInf : overflow;
    return {std::copysign(v, x), std::copysign(v, x)};
  }
  const double a = std::fabs(static_cast<double>(x));
  auto [lo, hi] = round_magnitude(a, float_quantum_exponent(a, f));
  const auto range = [&](double v) { return v > max ? static_cast<double>(overflow) : v; };
  return signed_pair(x, range(lo), range(hi));
}

// An MX element grid, from docs/numerics.md ("Microscaling"): spacing 2^(max(e, emin) - man),
// largest magnitude max, block scale 2^(floor(log2 amax) - emax).
struct MXElementGrid {
  int man, emin, emax;
  double max;
};
MXElementGrid mx_grid(MXElement e) {
  switch (e) {
    case MXElement::E4M3: return {3, -6, 8, 448.0};
    case MXElement::E5M2: return {2, -14, 15, 57344.0};
    case MXElement::E3M2: return {2, -2, 4, 28.0};
    case MXElement::E2M3: return {3, 0, 2, 7.5};
    case MXElement::E2M1: return {1, 0, 2, 6.0};
    case MXElement::Int8: return {6, 0, 0, 127.0 / 64.0};
  }
  QTORCH_FAIL("testing: unknown MX element code {}", static_cast<int>(e));
}
int mx_scale_exponent(float block_max, const MXFormat& f) {
  const double a = std::fabs(static_cast<double>(block_max));
  const int e = a >= std::ldexp(1.0, -126) ? floor_log2(a) - mx_grid(f.element).emax : -127;
  return std::max(e, -127);
}
// The element quantum (in x's units) at |x| = a.
int mx_quantum_exponent(double a, const MXFormat& f, float block_max) {
  const MXElementGrid g = mx_grid(f.element);
  const int s = mx_scale_exponent(block_max, f);
  const double v = std::ldexp(a, -s);
  const int e = v > 0 ? floor_log2(v) : g.emin;
  return std::max(e, g.emin) - g.man + s;
}
double mx_max(const MXFormat& f, float block_max) {
  return std::ldexp(mx_grid(f.element).max, mx_scale_exponent(block_max, f));
}

GridNeighbours mx_neighbours(float x, const MXFormat& f, float block_max) {
  if (!std::isfinite(x) || !std::isfinite(block_max)) return {kNaN, kNaN};
  const double a = std::fabs(static_cast<double>(x));
  const double top = mx_max(f, block_max);
  auto [lo, hi] = round_magnitude(a, mx_quantum_exponent(a, f, block_max));
  return signed_pair(x, std::min(lo, top), std::min(hi, top));
}

[[noreturn]] void no_nvfp4(const char* fn) {
  QTORCH_FAIL("testing::{}: NVFP4's grid depends on the tensor's and the block's scales, which "
              "these functions do not take; expected a FixedPoint, FloatingPoint, "
              "BlockFloatingPoint or MXFormat, got NVFP4",
              fn);
}

GridNeighbours block_neighbours(float x, const BlockFloatingPoint& b, float block_max) {
  if (!std::isfinite(x) || !std::isfinite(block_max)) return {kNaN, kNaN};
  const int q = block_quantum_exponent(block_max, b);
  const double s = std::ldexp(1.0, q);
  const double top = std::ldexp(1.0, block_exponent(block_max) + 1) - s;
  auto [lo, hi] = round_magnitude(std::fabs(static_cast<double>(x)), q);
  return signed_pair(x, std::min(lo, top), std::min(hi, top));
}

}  // namespace

bool GridNeighbours::on_grid() const {
  return lower == upper || (std::isnan(lower) && std::isnan(upper));
}

int block_exponent(float block_max) {
  const double a = std::fabs(static_cast<double>(block_max));
  if (a < std::ldexp(1.0, -126)) return -126;
  return floor_log2(a);
}

GridNeighbours grid_neighbours(float x, const Number& number, std::optional<float> block_max) {
  validate(number);
  if (std::isnan(x)) return {x, x};
  return std::visit(
      [&](const auto& n) -> GridNeighbours {
        using T = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<T, FixedPoint>) return fixed_neighbours(x, n);
        else if constexpr (std::is_same_v<T, FloatingPoint>) return float_neighbours(x, n);
        else if constexpr (std::is_same_v<T, MXFormat>)
          return mx_neighbours(x, n, need_block_max("grid_neighbours", block_max));
        else if constexpr (std::is_same_v<T, NVFP4Format>) no_nvfp4("grid_neighbours");
        else return block_neighbours(x, n, need_block_max("grid_neighbours", block_max));
      },
      number);
}

double format_max(const Number& number, std::optional<float> block_max) {
  validate(number);
  return std::visit(
      [&](const auto& n) -> double {
        using T = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<T, FixedPoint>) return fixed_range(n).t_max;
        else if constexpr (std::is_same_v<T, FloatingPoint>) return float_max(n);
        else if constexpr (std::is_same_v<T, MXFormat>) return mx_max(n, need_block_max("format_max", block_max));
        else if constexpr (std::is_same_v<T, NVFP4Format>) no_nvfp4("format_max");
        else {
          const float m = need_block_max("format_max", block_max);
          return std::ldexp(1.0, block_exponent(m) + 1) - std::ldexp(1.0, block_quantum_exponent(m, n));
        }
      },
      number);
}

double min_normal(const Number& number, std::optional<float> block_max) {
  validate(number);
  return std::visit(
      [&](const auto& n) -> double {
        using T = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<T, FixedPoint>) return std::ldexp(1.0, -n.fl);
        else if constexpr (std::is_same_v<T, FloatingPoint>) return std::ldexp(1.0, n.emin());
        else if constexpr (std::is_same_v<T, MXFormat>)
          return std::ldexp(1.0, mx_grid(n.element).emin +
                                     mx_scale_exponent(need_block_max("min_normal", block_max), n));
        else if constexpr (std::is_same_v<T, NVFP4Format>) no_nvfp4("min_normal");
        else return std::ldexp(1.0, block_quantum_exponent(need_block_max("min_normal", block_max), n));
      },
      number);
}

double quantum_at(float x, const Number& number, std::optional<float> block_max) {
  validate(number);
  QTORCH_CHECK(std::isfinite(x), "testing::quantum_at: expected a finite value, got {}", x);
  return std::visit(
      [&](const auto& n) -> double {
        using T = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<T, FixedPoint>) return std::ldexp(1.0, -n.fl);
        else if constexpr (std::is_same_v<T, FloatingPoint>)
          return std::ldexp(1.0, float_quantum_exponent(std::fabs(static_cast<double>(x)), n));
        else if constexpr (std::is_same_v<T, MXFormat>)
          return std::ldexp(1.0, mx_quantum_exponent(std::fabs(static_cast<double>(x)), n,
                                                     need_block_max("quantum_at", block_max)));
        else if constexpr (std::is_same_v<T, NVFP4Format>) no_nvfp4("quantum_at");
        else return std::ldexp(1.0, block_quantum_exponent(need_block_max("quantum_at", block_max), n));
      },
      number);
}

bool is_representable(float x, const Number& number, std::optional<float> block_max) {
  if (std::isnan(x)) return false;
  if (std::isinf(x)) {
    const auto* f = std::get_if<FloatingPoint>(&number);
    return f != nullptr && f->range == FloatRange::IEEE;
  }
  const GridNeighbours n = grid_neighbours(x, number, block_max);
  return n.lower == x && n.upper == x;
}

}  // namespace qtorch::testing
