// The text form of number formats ("fixed:8:6", "float:5:2:ieee", "block:8:0", "fp16",
// "fp32"), used by command lines and configs; parse_number(number_text(n)) == n.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <vector>

#include "qtorch/core/error.h"
#include "qtorch/quant/number.h"

namespace qtorch {
namespace {

constexpr const char* kAcceptedForms =
    "fixed:WL:FL[:noclamp][:symmetric], float:EXP:MAN[:ieee|:fn][:nosub][:nosat][:bias=N], "
    "block:WL[:DIM], mx:ELEM:BLOCK[:AXIS] (ELEM: e4m3, e5m2, e3m2, e2m3, e2m1, int8), "
    "nvfp4[:BLOCK[:AXIS]], fp16, bf16, tf32, e4m3, e5m2, e4m3_sat, e5m2_sat, hfp8, mxfp8, "
    "mxfp8_e5m2, mxfp6, mxfp6_e3m2, mxfp4, mxint8, nvfp4, fp32 (no quantization)";

struct Preset {
  const char* name;
  FloatingPoint (*make)();
};
constexpr Preset kPresets[] = {{"fp16", formats::fp16},     {"bf16", formats::bf16},
                               {"tf32", formats::tf32},     {"e4m3", formats::fp8_e4m3},
                               {"e5m2", formats::fp8_e5m2}, {"hfp8", formats::hfp8_e4m3},
                               {"e4m3_sat", formats::fp8_e4m3_sat}, {"e5m2_sat", formats::fp8_e5m2_sat}};

struct MXPreset {
  const char* name;
  MXFormat (*make)();
};
constexpr MXPreset kMXPresets[] = {{"mxfp8", formats::mxfp8}, {"mxfp8_e5m2", formats::mxfp8_e5m2},
                                   {"mxfp6", formats::mxfp6}, {"mxfp6_e3m2", formats::mxfp6_e3m2},
                                   {"mxfp4", formats::mxfp4}, {"mxint8", formats::mxint8}};
constexpr MXElement kMXElements[] = {MXElement::E4M3, MXElement::E5M2, MXElement::E3M2,
                                     MXElement::E2M3, MXElement::E2M1, MXElement::Int8};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) return parts;
    start = pos + 1;
  }
}

[[noreturn]] void bad_text(std::string_view text, const std::string& why) {
  QTORCH_FAIL("parse_number: expected one of {}; got '{}'{}", kAcceptedForms, text, why);
}

int parse_int(std::string_view text, const std::string& field, std::string_view whole) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc() || ptr != field.data() + field.size() || field.empty())
    bad_text(whole, fmt::format(" ('{}' is not an integer)", field));
  return value;
}

}  // namespace

std::string number_text(const std::optional<Number>& number) {
  if (!number) return "fp32";
  if (auto* f = std::get_if<FixedPoint>(&*number)) {
    std::string s = fmt::format("fixed:{}:{}", f->wl, f->fl);
    if (!f->clamp) s += ":noclamp";
    if (f->symmetric) s += ":symmetric";
    return s;
  }
  if (auto* b = std::get_if<BlockFloatingPoint>(&*number))
    return fmt::format("block:{}:{}", b->wl, b->dim);
  if (auto* mx = std::get_if<MXFormat>(&*number)) {
    for (const MXPreset& p : kMXPresets)
      if (p.make() == *mx) return p.name;
    std::string s = fmt::format("mx:{}:{}", mx_element_name(mx->element), mx->block);
    return mx->axis == -1 ? s : s + fmt::format(":{}", mx->axis);
  }
  if (auto* nv = std::get_if<NVFP4Format>(&*number)) {
    if (*nv == formats::nvfp4()) return "nvfp4";
    std::string s = fmt::format("nvfp4:{}", nv->block);
    return nv->axis == -1 ? s : s + fmt::format(":{}", nv->axis);
  }
  const auto& f = std::get<FloatingPoint>(*number);
  for (const Preset& p : kPresets)
    if (p.make() == f) return p.name;
  std::string s = fmt::format("float:{}:{}", f.exp, f.man);
  if (f.range == FloatRange::IEEE) s += ":ieee";
  if (f.range == FloatRange::FiniteNaN) s += ":fn";
  if (!f.subnormals) s += ":nosub";
  if (!f.saturate) s += ":nosat";
  if (f.effective_bias() != (1 << (f.exp - 1)) - 1) s += fmt::format(":bias={}", *f.bias);
  return s;
}

const char* number_text_forms() { return kAcceptedForms; }

std::optional<Number> parse_number(std::string_view text) {
  std::string s;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c)))
      s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "fp32" || s == "none") return std::nullopt;
  for (const Preset& p : kPresets)
    if (s == p.name) return Number(p.make());
  for (const MXPreset& p : kMXPresets)
    if (s == p.name) return Number(p.make());
  if (s == "fp8_e4m3") return Number(formats::fp8_e4m3());
  if (s == "fp8_e5m2") return Number(formats::fp8_e5m2());

  std::vector<std::string> parts = split(s, ':');
  const std::string& kind = parts[0];
  if (kind == "fixed" && parts.size() >= 3 && parts.size() <= 5) {
    FixedPoint f{.wl = parse_int(text, parts[1], text), .fl = parse_int(text, parts[2], text)};
    if (parts.size() == 5 && parts[3] == parts[4]) bad_text(text, fmt::format(" (fixed option '{}' given twice)", parts[3]));
    for (size_t i = 3; i < parts.size(); ++i) {
      if (parts[i] == "noclamp")
        f.clamp = false;
      else if (parts[i] == "symmetric")
        f.symmetric = true;
      else
        bad_text(text, fmt::format(" (unknown fixed option '{}')", parts[i]));
    }
    f.validate();
    return Number(f);
  }
  if (kind == "float" && parts.size() >= 3) {
    FloatingPoint f{.exp = parse_int(text, parts[1], text), .man = parse_int(text, parts[2], text)};
    // Each option once: a second would silently win ("ieee" and "fn" both set the range).
    std::vector<std::string> seen;
    for (size_t i = 3; i < parts.size(); ++i) {
      const std::string& o = parts[i];
      const std::string key = o == "ieee" || o == "fn" ? "range" : o.rfind("bias=", 0) == 0 ? "bias" : o;
      if (std::find(seen.begin(), seen.end(), key) != seen.end())
        bad_text(text, fmt::format(" (float option '{}' given twice)", key == "range" ? "ieee|fn" : key));
      seen.push_back(key);
      if (o == "ieee")
        f.range = FloatRange::IEEE;
      else if (o == "fn")
        f.range = FloatRange::FiniteNaN;
      else if (o == "nosub")
        f.subnormals = false;
      else if (o == "nosat")
        f.saturate = false;
      else if (o.rfind("bias=", 0) == 0)
        f.bias = parse_int(text, o.substr(5), text);
      else
        bad_text(text, fmt::format(" (unknown float option '{}')", o));
    }
    f.validate();
    return Number(f);
  }
  if (kind == "block" && (parts.size() == 2 || parts.size() == 3)) {
    BlockFloatingPoint b{.wl = parse_int(text, parts[1], text),
                         .dim = parts.size() == 3 ? parse_int(text, parts[2], text) : -1};
    b.validate();
    return Number(b);
  }
  if (kind == "mx" && (parts.size() == 3 || parts.size() == 4)) {
    MXFormat mx;
    const MXElement* element = nullptr;
    for (const MXElement& e : kMXElements)
      if (parts[1] == mx_element_name(e)) element = &e;
    if (element == nullptr)
      bad_text(text, fmt::format(" (unknown MX element '{}'; expected e4m3, e5m2, e3m2, e2m3, "
                                 "e2m1 or int8)",
                                 parts[1]));
    mx.element = *element;
    mx.block = parse_int(text, parts[2], text);
    if (parts.size() == 4) mx.axis = parse_int(text, parts[3], text);
    mx.validate();
    return Number(mx);
  }
  if (kind == "nvfp4" && parts.size() <= 3) {
    NVFP4Format nv;
    if (parts.size() >= 2) nv.block = parse_int(text, parts[1], text);
    if (parts.size() == 3) nv.axis = parse_int(text, parts[2], text);
    nv.validate();
    return Number(nv);
  }
  bad_text(text, "");
}

}  // namespace qtorch
