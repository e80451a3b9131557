// Number formats as plain values (qtorch.FixedPoint, FloatingPoint, BlockFloatingPoint in
// Python), their validation, printing, text form ("fixed:8:6", "fp16", ...) and presets.
// The exact meaning of every field is in docs/numerics.md.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>

namespace qtorch {

/// Signed fixed point: `wl` bits in all (sign included), `fl` fractional bits, so the
/// quantum is 2^-fl and the range [-2^(wl-fl-1), 2^(wl-fl-1) - 2^-fl] (symmetric: the
/// lower end is -t_max). clamp=false simulates precision only.
/// Aggregate, so `FixedPoint{.wl = 8, .fl = 6}` works; every quantize entry calls validate().
struct FixedPoint {
  int wl = 8;
  int fl = 0;
  bool clamp = true;
  bool symmetric = false;

  /// Throws qtorch::Error unless wl >= 1, -127 <= fl <= 149 (the quantum is a float32)
  /// and wl - fl - 1 <= 127 (the range is finite in float32).
  void validate() const;
  /// validate(), then *this: `auto f = FixedPoint{.wl = 5, .fl = 4}.checked();`
  FixedPoint checked() const {
    validate();
    return *this;
  }
  bool operator==(const FixedPoint&) const = default;
};

/// Which exponent codes of a floating format are numbers.
enum class FloatRange {
  /// Reference (QPyTorch) semantics: no code is reserved, emax = 2^exp - 1 - bias.
  Extended,
  /// IEEE 754: the top exponent code holds inf and NaN, emax = 2^exp - 2 - bias.
  IEEE,
  /// OCP "FN" (E4M3FN): no inf; the top code is normal except all-ones mantissa (NaN),
  /// so the largest value is 2^emax * (2 - 2^(1-man)). Needs man >= 1.
  FiniteNaN,
};

/// Floating point with `exp` exponent bits and `man` explicit mantissa bits.
/// Defaults give the reference semantics (docs/numerics.md, "Floating point"); the options give
/// IEEE/OCP formats (see qtorch::formats).
struct FloatingPoint {
  int exp = 8;
  int man = 23;
  FloatRange range = FloatRange::Extended;
  /// false: no subnormals; the grid has no point between 0 and 2^emin, so values there
  /// round to 0 or +-2^emin under the rounding mode (nearest flushes those below 2^(emin-1)).
  bool subnormals = true;
  /// Overflow (and +-inf input) gives +-max. false: overflow gives +-inf, or NaN for
  /// FiniteNaN (no inf code, as OCP casts do); a directed mode rounding toward zero still
  /// gives +-max (IEEE 754). In the IEEE range an inf input always stays inf.
  bool saturate = true;
  /// Exponent bias; default 2^(exp-1) - 1.
  std::optional<int> bias = std::nullopt;

  int effective_bias() const { return bias ? *bias : (1 << (exp - 1)) - 1; }
  /// Smallest normal exponent: 1 - bias.
  int emin() const { return 1 - effective_bias(); }
  /// Largest exponent of a finite value.
  int emax() const;
  /// Largest finite value (+inf when it is beyond float32, e.g. exp = 8 Extended).
  float max_value() const;
  /// Throws qtorch::Error unless 2 <= exp <= 8, 0 <= man <= 23, man >= 1 for FiniteNaN,
  /// emin >= -126 and emax <= 128 (the format fits float32's normal exponents).
  void validate() const;
  FloatingPoint checked() const {
    validate();
    return *this;
  }
  /// Equal when every field, with the bias made explicit, is equal.
  bool operator==(const FloatingPoint& o) const;
};

/// Block floating point: `wl` bits per element (sign included) sharing one exponent per
/// block; dim = -1 is one block for the whole tensor, dim = d one block per index on axis d.
struct BlockFloatingPoint {
  int wl = 8;
  int dim = -1;

  /// Throws qtorch::Error unless 2 <= wl <= 24 and dim >= -1 (dim < x.dim() is checked
  /// when a tensor is quantized).
  void validate() const;
  BlockFloatingPoint checked() const {
    validate();
    return *this;
  }
  bool operator==(const BlockFloatingPoint&) const = default;
};

/// The element of an OCP MX format (docs/numerics.md, "Microscaling"): the OCP FP8, FP6
/// and FP4 elements (subnormals, no inf/NaN codes; E4M3 is E4M3FN, max 448) and int8, the
/// sign-magnitude grid k/64 with |k| <= 127.
enum class MXElement { E4M3, E5M2, E3M2, E2M3, E2M1, Int8 };

/// "e4m3", "e5m2", "e3m2", "e2m3", "e2m1", "int8".
const char* mx_element_name(MXElement e);

/// OCP Microscaling (MX v1.0): blocks of `block` consecutive elements along `axis` (-1 the
/// last axis; Python-style negative axes count from the end; the last block of a line may
/// be shorter) share one power-of-two scale (E8M0); each element is an `element` number.
struct MXFormat {
  MXElement element = MXElement::E4M3;
  int block = 32;
  int axis = -1;

  /// Throws qtorch::Error unless block >= 1 (the axis is checked against a tensor when
  /// one is quantized).
  void validate() const;
  MXFormat checked() const {
    validate();
    return *this;
  }
  bool operator==(const MXFormat&) const = default;
};

/// NVIDIA NVFP4: E2M1 elements in blocks of `block` (default 16) along `axis`, each block
/// with an E4M3 scale, times one float32 scale for the whole tensor.
struct NVFP4Format {
  int block = 16;
  int axis = -1;

  /// Throws qtorch::Error unless block >= 1.
  void validate() const;
  NVFP4Format checked() const {
    validate();
    return *this;
  }
  bool operator==(const NVFP4Format&) const = default;
};

/// Any format (qtorch.Number).
using Number = std::variant<FixedPoint, FloatingPoint, BlockFloatingPoint, MXFormat, NVFP4Format>;

/// Calls validate() of whichever format `number` holds.
void validate(const Number& number);

/// True when scaling the values by a power of two moves them into or out of the format's
/// range, so that a smaller loss scale cures its saturation: fixed and floating point. False
/// for the shared-scale formats (block floating point, MX, NVFP4): a block saturates relative
/// to its own scale, which moves with the values, so the same elements saturate at any loss
/// scale, and a loss scaler must not back off for them (docs/numerics.md, "Overflow must stay
/// visible").
bool loss_scale_moves_saturation(const Number& number);

/// Readable form, as Python prints it: "FixedPoint(wl=5, fl=4)", options only when they
/// differ from the defaults ("FixedPoint(wl=8, fl=6, clamp=false, symmetric=true)").
std::string to_string(const FixedPoint& f);
std::string to_string(const FloatingPoint& f);
std::string to_string(const BlockFloatingPoint& f);
std::string to_string(const MXFormat& f);
std::string to_string(const NVFP4Format& f);
std::string to_string(const Number& n);
std::ostream& operator<<(std::ostream& os, const FixedPoint& f);
std::ostream& operator<<(std::ostream& os, const FloatingPoint& f);
std::ostream& operator<<(std::ostream& os, const BlockFloatingPoint& f);
std::ostream& operator<<(std::ostream& os, const MXFormat& f);
std::ostream& operator<<(std::ostream& os, const NVFP4Format& f);
std::ostream& operator<<(std::ostream& os, const Number& n);

/// Text form, parsed back by parse_number: "fixed:8:6", "fixed:8:6:noclamp:symmetric",
/// "float:5:2", "block:8:0", a preset name ("fp16", "bf16", "tf32", "e4m3", "e5m2"), and
/// "fp32" for no quantization (an empty optional). Non-default float options are
/// appended as ":ieee" / ":fn", ":nosub", ":nosat", ":bias=N". Block-scaled formats:
/// "mx:ELEM:BLOCK[:AXIS]" and "nvfp4[:BLOCK[:AXIS]]", written as their names where one
/// fits ("mxfp8" = mx:e4m3:32, "mxfp8_e5m2", "mxfp6" = mx:e2m3:32, "mxfp6_e3m2",
/// "mxfp4" = mx:e2m1:32, "mxint8", "nvfp4" = nvfp4:16); the axis only when it is not -1.
std::string number_text(const std::optional<Number>& number);

/// Parses the text form (case-insensitive, surrounding spaces ignored). "fp32" (alias
/// "none") gives an empty optional: no quantization. Anything else throws qtorch::Error
/// listing the accepted forms. The result is validated.
std::optional<Number> parse_number(std::string_view text);
/// Every form parse_number accepts, in one line (its error messages and qtrain's help).
const char* number_text_forms();

/// IEEE and OCP presets (with NearestEven they equal real casts bit for bit, except that a
/// NaN keeps its sign and payload, docs/numerics.md).
namespace formats {
/// IEEE binary16: exp 5, man 10, overflow to inf.
FloatingPoint fp16();
/// bfloat16: exp 8, man 7, overflow to inf.
FloatingPoint bf16();
/// NVIDIA TensorFloat-32: exp 8, man 10, IEEE range.
FloatingPoint tf32();
/// OCP FP8 E4M3FN: max 448, no inf, one NaN code; overflow gives NaN (saturate: 448).
FloatingPoint fp8_e4m3();
/// OCP FP8 E5M2: IEEE-like, max 57344, overflow to inf.
FloatingPoint fp8_e5m2();
/// The saturating variants training recipes want ("e4m3_sat", "e5m2_sat"): overflow gives
/// +-448 / +-57344 instead of NaN / inf (an inf input stays inf in E5M2), as OCP's
/// saturating conversion mode; clamping_grad_zero accepts them.
FloatingPoint fp8_e4m3_sat();
FloatingPoint fp8_e5m2_sat();
/// HFP8 forward format (Sun et al. 2019): e4m3 with bias 11 and no inf, max 30,
/// smallest normal 2^-10, saturating.
FloatingPoint hfp8_e4m3();
/// OCP MX formats with blocks of 32 along the last axis.
MXFormat mxfp8();        // e4m3 elements
MXFormat mxfp8_e5m2();   // e5m2 elements
MXFormat mxfp6();        // e2m3 elements
MXFormat mxfp6_e3m2();   // e3m2 elements
MXFormat mxfp4();        // e2m1 elements
MXFormat mxint8();       // int8 elements
/// NVFP4 with blocks of 16 along the last axis.
NVFP4Format nvfp4();
}  // namespace formats

}  // namespace qtorch
