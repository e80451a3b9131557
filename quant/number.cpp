// Validation, readable printing and the IEEE/OCP presets of the number formats.
#include "qtorch/quant/number.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "qtorch/core/error.h"

namespace qtorch {

void FixedPoint::validate() const {
  QTORCH_CHECK(wl >= 1, "FixedPoint: expected wl >= 1, got wl={}", wl);
  QTORCH_CHECK(fl >= -127 && fl <= 149,
               "FixedPoint: expected -127 <= fl <= 149 (the quantum 2^-fl must be a float32), "
               "got fl={}",
               fl);
  QTORCH_CHECK(int64_t{wl} - fl - 1 <= 127,  // in int64: wl near INT_MAX must not wrap
               "FixedPoint: expected wl - fl - 1 <= 127 (the range 2^(wl-fl-1) must be finite in "
               "float32), got wl={}, fl={}",
               wl, fl);
}

int FloatingPoint::emax() const {
  int top = (1 << exp) - 1;  // the largest exponent code
  return (range == FloatRange::IEEE ? top - 1 : top) - effective_bias();
}

float FloatingPoint::max_value() const {
  int e = emax();
  // 2^e * (2 - 2^-man), or 2^e * (2 - 2^(1-man)) when the all-ones mantissa is NaN.
  double m = 2.0 - std::ldexp(1.0, range == FloatRange::FiniteNaN ? 1 - man : -man);
  double v = std::ldexp(m, e);
  return v > static_cast<double>(std::numeric_limits<float>::max())
             ? std::numeric_limits<float>::infinity()
             : static_cast<float>(v);
}

void FloatingPoint::validate() const {
  QTORCH_CHECK(exp >= 2 && exp <= 8, "FloatingPoint: expected 2 <= exp <= 8, got exp={}", exp);
  QTORCH_CHECK(man >= 0 && man <= 23, "FloatingPoint: expected 0 <= man <= 23, got man={}", man);
  QTORCH_CHECK(range != FloatRange::FiniteNaN || man >= 1,
               "FloatingPoint: expected man >= 1 for the FiniteNaN range (the all-ones mantissa "
               "of the top binade is NaN), got man={}",
               man);
  // The bias is range-checked before emin() and emax() compute with it (1 - bias and
  // 2^exp - 1 - bias overflow int for a bias near INT_MIN or INT_MAX). No exponent width
  // allows a bias outside [-126, 127]: emin = 1 - bias >= -126, and emax <= 128 needs
  // bias >= 2^exp - 2 - 128 >= -126.
  QTORCH_CHECK(!bias || (*bias >= -126 && *bias <= 127),
               "FloatingPoint: expected -126 <= bias <= 127 (the exponents must fit float32's), "
               "got bias={}",
               *bias);
  QTORCH_CHECK(emin() >= -126,
               "FloatingPoint: expected bias <= 127 (smallest normal exponent 1 - bias >= -126, "
               "within float32), got bias={}",
               effective_bias());
  QTORCH_CHECK(emax() <= 128,
               "FloatingPoint: expected the largest exponent <= 128 (within float32), got {} "
               "(exp={}, bias={})",
               emax(), exp, effective_bias());
}

bool FloatingPoint::operator==(const FloatingPoint& o) const {
  return exp == o.exp && man == o.man && range == o.range && subnormals == o.subnormals &&
         saturate == o.saturate && effective_bias() == o.effective_bias();
}

void BlockFloatingPoint::validate() const {
  QTORCH_CHECK(wl >= 2 && wl <= 24, "BlockFloatingPoint: expected 2 <= wl <= 24, got wl={}", wl);
  QTORCH_CHECK(dim >= -1, "BlockFloatingPoint: expected dim >= -1, got dim={}", dim);
}

const char* mx_element_name(MXElement e) {
  switch (e) {
    case MXElement::E4M3: return "e4m3";
    case MXElement::E5M2: return "e5m2";
    case MXElement::E3M2: return "e3m2";
    case MXElement::E2M3: return "e2m3";
    case MXElement::E2M1: return "e2m1";
    case MXElement::Int8: return "int8";
  }
  return "?";
}

void MXFormat::validate() const {
  QTORCH_CHECK(element >= MXElement::E4M3 && element <= MXElement::Int8,
               "MXFormat: expected an element e4m3, e5m2, e3m2, e2m3, e2m1 or int8, got code {}",
               static_cast<int>(element));
  QTORCH_CHECK(block >= 1, "MXFormat: expected block >= 1, got block={}", block);
}

void NVFP4Format::validate() const {
  QTORCH_CHECK(block >= 1, "NVFP4Format: expected block >= 1, got block={}", block);
}

void validate(const Number& number) {
  std::visit([](const auto& f) { f.validate(); }, number);
}

bool loss_scale_moves_saturation(const Number& number) {
  return std::holds_alternative<FixedPoint>(number) || std::holds_alternative<FloatingPoint>(number);
}

std::string to_string(const FixedPoint& f) {
  std::string s = fmt::format("FixedPoint(wl={}, fl={}", f.wl, f.fl);
  if (!f.clamp) s += ", clamp=false";
  if (f.symmetric) s += ", symmetric=true";
  return s + ")";
}

std::string to_string(const FloatingPoint& f) {
  std::string s = fmt::format("FloatingPoint(exp={}, man={}", f.exp, f.man);
  if (f.range == FloatRange::IEEE) s += ", range=ieee";
  if (f.range == FloatRange::FiniteNaN) s += ", range=fn";
  if (!f.subnormals) s += ", subnormals=false";
  if (!f.saturate) s += ", saturate=false";
  if (f.effective_bias() != (1 << (f.exp - 1)) - 1) s += fmt::format(", bias={}", *f.bias);
  return s + ")";
}

std::string to_string(const BlockFloatingPoint& f) {
  return fmt::format("BlockFloatingPoint(wl={}, dim={})", f.wl, f.dim);
}

std::string to_string(const MXFormat& f) {
  std::string s = fmt::format("MXFormat(element={}, block={}", mx_element_name(f.element), f.block);
  if (f.axis != -1) s += fmt::format(", axis={}", f.axis);
  return s + ")";
}

std::string to_string(const NVFP4Format& f) {
  std::string s = fmt::format("NVFP4Format(block={}", f.block);
  if (f.axis != -1) s += fmt::format(", axis={}", f.axis);
  return s + ")";
}

std::string to_string(const Number& n) {
  return std::visit([](const auto& f) { return to_string(f); }, n);
}

std::ostream& operator<<(std::ostream& os, const FixedPoint& f) { return os << to_string(f); }
std::ostream& operator<<(std::ostream& os, const FloatingPoint& f) { return os << to_string(f); }
std::ostream& operator<<(std::ostream& os, const BlockFloatingPoint& f) {
  return os << to_string(f);
}
std::ostream& operator<<(std::ostream& os, const MXFormat& f) { return os << to_string(f); }
std::ostream& operator<<(std::ostream& os, const NVFP4Format& f) { return os << to_string(f); }
std::ostream& operator<<(std::ostream& os, const Number& n) { return os << to_string(n); }

namespace formats {
FloatingPoint fp16() { return {.exp = 5, .man = 10, .range = FloatRange::IEEE, .saturate = false}; }
FloatingPoint bf16() { return {.exp = 8, .man = 7, .range = FloatRange::IEEE, .saturate = false}; }
FloatingPoint tf32() { return {.exp = 8, .man = 10, .range = FloatRange::IEEE, .saturate = false}; }
FloatingPoint fp8_e4m3() {
  return {.exp = 4, .man = 3, .range = FloatRange::FiniteNaN, .saturate = false};
}
FloatingPoint fp8_e5m2() {
  return {.exp = 5, .man = 2, .range = FloatRange::IEEE, .saturate = false};
}
FloatingPoint fp8_e4m3_sat() {
  FloatingPoint f = fp8_e4m3();
  f.saturate = true;
  return f;
}
FloatingPoint fp8_e5m2_sat() {
  FloatingPoint f = fp8_e5m2();
  f.saturate = true;
  return f;
}
FloatingPoint hfp8_e4m3() {
  return {.exp = 4, .man = 3, .range = FloatRange::Extended, .saturate = true, .bias = 11};
}
MXFormat mxfp8() { return {.element = MXElement::E4M3}; }
MXFormat mxfp8_e5m2() { return {.element = MXElement::E5M2}; }
MXFormat mxfp6() { return {.element = MXElement::E2M3}; }
MXFormat mxfp6_e3m2() { return {.element = MXElement::E3M2}; }
MXFormat mxfp4() { return {.element = MXElement::E2M1}; }
MXFormat mxint8() { return {.element = MXElement::Int8}; }
NVFP4Format nvfp4() { return {}; }
}  // namespace formats

}  // namespace qtorch
