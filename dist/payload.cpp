// Encoding quantized values as their codes: one element codec per format (fixed point,
// float, block floating point, MX) over a shared bit packer and exception list.
#include "qtorch/dist/payload.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "qtorch/core/error.h"

namespace qtorch::dist {
namespace {

// ---- raw bytes ----
template <typename T>
void put(std::vector<uint8_t>& out, T value) {
  uint8_t bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

template <typename T>
T take(const uint8_t* data, size_t size, size_t& offset) {
  QTORCH_CHECK(offset <= size && size - offset >= sizeof(T),
               "payload: expected {} more bytes at byte {}, got {} (truncated message)", sizeof(T), offset,
               offset <= size ? size - offset : 0);
  T value;
  std::memcpy(&value, data + offset, sizeof(T));
  offset += sizeof(T);
  return value;
}

// ---- codes of `bits` bits each, packed from the lowest bit of byte 0 ----
void pack(const std::vector<uint32_t>& codes, int bits, std::vector<uint8_t>& out) {
  out.reserve(out.size() + (codes.size() * static_cast<size_t>(bits) + 7) / 8);
  uint64_t buffer = 0;  // bits not yet written, from bit 0
  int held = 0;
  for (uint32_t code : codes) {
    buffer |= static_cast<uint64_t>(code) << held;
    held += bits;
    for (; held >= 8; held -= 8, buffer >>= 8) out.push_back(static_cast<uint8_t>(buffer));
  }
  if (held > 0) out.push_back(static_cast<uint8_t>(buffer));
}

void unpack(const uint8_t* data, size_t size, size_t& offset, size_t count, int bits, std::vector<uint32_t>& codes) {
  const size_t bytes = (count * static_cast<size_t>(bits) + 7) / 8;
  QTORCH_CHECK(offset <= size && size - offset >= bytes,
               "payload: expected {} bytes of codes at byte {}, got {} (truncated message)", bytes, offset,
               offset <= size ? size - offset : 0);
  const uint8_t* src = data + offset;
  const uint64_t mask = bits >= 32 ? 0xffffffffull : (uint64_t(1) << bits) - 1;
  codes.resize(count);
  uint64_t buffer = 0;
  int held = 0;
  size_t next = 0;
  for (size_t i = 0; i < count; ++i) {
    for (; held < bits; held += 8) buffer |= static_cast<uint64_t>(src[next++]) << held;
    codes[i] = static_cast<uint32_t>(buffer & mask);
    buffer >>= bits;
    held -= bits;
  }
  offset += bytes;
}

// Two's complement in `bits` bits.
uint32_t signed_code(int64_t k, int bits) { return static_cast<uint32_t>(k) & (bits >= 32 ? ~0u : (1u << bits) - 1u); }
int64_t signed_value(uint32_t code, int bits) {
  if (bits >= 32) return static_cast<int32_t>(code);
  const uint32_t sign = 1u << (bits - 1);
  return (code & sign) ? static_cast<int64_t>(code) - (int64_t(1) << bits) : static_cast<int64_t>(code);
}

// 2^e as a double (exact for the exponents used here, |e| < 1000).
double pow2(int e) { return std::ldexp(1.0, e); }

// ---- integers times a power of two (fixed point, block floating point, MX int8) ----
// The code of x = k * unit, when k is an integer that fits `bits` bits in two's complement.
std::optional<uint32_t> integer_code(float x, double inverse_unit, int bits) {
  const double k = static_cast<double>(x) * inverse_unit;  // exact: a power-of-two scaling in double
  const double limit = static_cast<double>(int64_t(1) << (bits - 1));
  if (!(k == std::floor(k)) || k >= limit || k < -limit) return std::nullopt;
  return signed_code(static_cast<int64_t>(k), bits);
}
float integer_value(uint32_t code, double unit, int bits) {
  return static_cast<float>(static_cast<double>(signed_value(code, bits)) * unit);
}

// ---- floating point: sign | exponent field | mantissa, for every finite value of the grid ----
// Read from and written to the bits of a double, which holds every float32 as a normal number.
struct FloatCodec {
  int exp = 8, man = 23, emin = -126;
  double subnormal_unit = 0;  // 2^(emin - man)
  FloatCodec() = default;
  FloatCodec(int e, int m, int em) : exp(e), man(m), emin(em), subnormal_unit(std::ldexp(1.0, em - m)) {}
  int bits() const { return 1 + exp + man; }
  std::optional<uint32_t> encode(double x) const {
    uint64_t b;
    std::memcpy(&b, &x, sizeof b);
    const uint32_t sign = (b >> 63) ? 1u << (exp + man) : 0u;
    const int biased = static_cast<int>((b >> 52) & 0x7ff);
    if (biased == 0x7ff) return std::nullopt;  // inf, NaN
    const uint64_t fraction = b & ((uint64_t(1) << 52) - 1);
    if (biased == 0 && fraction == 0) return sign;  // zero (a float32 is never a double subnormal)
    const int e = biased - 1023;
    uint64_t field = 0, mant = 0;
    if (e >= emin) {
      const int drop = 52 - man;
      if (fraction & ((uint64_t(1) << drop) - 1)) return std::nullopt;
      field = static_cast<uint64_t>(e - emin + 1);
      mant = fraction >> drop;
    } else {
      const int drop = 52 - man + (emin - e);
      if (drop > 53) return std::nullopt;
      const uint64_t full = fraction | (uint64_t(1) << 52);
      if (full & ((uint64_t(1) << drop) - 1)) return std::nullopt;
      mant = full >> drop;
    }
    if (field >= (uint64_t(1) << exp)) return std::nullopt;
    return sign | static_cast<uint32_t>(field << man) | static_cast<uint32_t>(mant);
  }
  double decode(uint32_t code) const {
    const uint64_t negative = (code >> (exp + man)) & 1u;
    const uint32_t field = (code >> man) & ((1u << exp) - 1u);
    const uint64_t mant = code & ((1u << man) - 1u);
    double v;
    if (field == 0) {
      v = static_cast<double>(mant) * subnormal_unit;
    } else {
      const uint64_t b = (static_cast<uint64_t>(static_cast<int>(field) - 1 + emin + 1023) << 52) | (mant << (52 - man));
      std::memcpy(&v, &b, sizeof v);
    }
    return negative ? -v : v;
  }
};

FloatCodec float_codec(const FloatingPoint& f) { return FloatCodec(f.exp, f.man, f.emin()); }

// An MX element, with the largest exponent of its grid.
struct MxElementCodec {
  bool integer = false;  // int8: k / 64, |k| <= 127
  FloatCodec fp{};
  int emax = 0;
  int bits() const { return integer ? 8 : fp.bits(); }
};

MxElementCodec mx_element(MXElement e) {
  auto fp = [](int exp, int man, int emax) { return MxElementCodec{false, FloatCodec(exp, man, 2 - (1 << (exp - 1))), emax}; };
  switch (e) {
    case MXElement::E4M3: return fp(4, 3, 8);
    case MXElement::E5M2: return fp(5, 2, 15);
    case MXElement::E3M2: return fp(3, 2, 4);
    case MXElement::E2M3: return fp(2, 3, 2);
    case MXElement::E2M1: return fp(2, 1, 2);
    case MXElement::Int8: return MxElementCodec{true, {}, 0};
  }
  QTORCH_FAIL("payload: unknown MX element");
}

int normalized_axis(int axis, const Shape& shape, const char* what) {
  const int n = static_cast<int>(shape.size());
  const int a = axis < 0 ? axis + n : axis;
  QTORCH_CHECK(a >= 0 && a < n, "payload: {} axis {} is out of range for a tensor of shape {}", what, axis,
               shape_str(shape));
  return a;
}

// A contiguous shape seen as [outer, len, inner] around one axis.
struct AxisSplit {
  int64_t outer = 1, len = 1, inner = 1;
};
AxisSplit split_at(const Shape& shape, int axis) {
  AxisSplit s;
  for (int k = 0; k < axis; ++k) s.outer *= shape[static_cast<size_t>(k)];
  s.len = shape[static_cast<size_t>(axis)];
  for (size_t k = static_cast<size_t>(axis) + 1; k < shape.size(); ++k) s.inner *= shape[k];
  return s;
}

// The blocks of a block format over a contiguous tensor: their count, and fn(flat index,
// block) for every element in flat order. Block floating point: one block (dim -1) or one
// per index on dim. MX: runs of `block` elements along the axis, numbered (outer, inner, run).
struct Blocks {
  const Number& number;
  const Shape& shape;

  size_t count() const {
    if (const auto* b = std::get_if<BlockFloatingPoint>(&number)) {
      if (b->dim < 0) return 1;
      return static_cast<size_t>(shape[static_cast<size_t>(normalized_axis(b->dim, shape, "block floating point dim"))]);
    }
    const auto& mx = std::get<MXFormat>(number);
    if (shape.empty()) return 1;
    const AxisSplit s = split_at(shape, normalized_axis(mx.axis, shape, "MX"));
    return static_cast<size_t>(s.outer * s.inner * ((s.len + mx.block - 1) / mx.block));
  }

  template <typename Fn>
  void for_each(Fn fn) const {
    if (const auto* b = std::get_if<BlockFloatingPoint>(&number)) {
      if (b->dim < 0) {
        const int64_t n = numel_of(shape);
        for (int64_t i = 0; i < n; ++i) fn(i, size_t{0});
        return;
      }
      const AxisSplit s = split_at(shape, normalized_axis(b->dim, shape, "block floating point dim"));
      int64_t i = 0;
      for (int64_t o = 0; o < s.outer; ++o)
        for (int64_t k = 0; k < s.len; ++k)
          for (int64_t ii = 0; ii < s.inner; ++ii) fn(i++, static_cast<size_t>(k));
      return;
    }
    const auto& mx = std::get<MXFormat>(number);
    if (shape.empty()) {
      fn(int64_t{0}, size_t{0});
      return;
    }
    const AxisSplit s = split_at(shape, normalized_axis(mx.axis, shape, "MX"));
    const int64_t runs = (s.len + mx.block - 1) / mx.block;
    int64_t i = 0;
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t j = 0; j < s.len; ++j) {
        const int64_t run = j / mx.block;
        for (int64_t ii = 0; ii < s.inner; ++ii) fn(i++, static_cast<size_t>((o * s.inner + ii) * runs + run));
      }
  }
};

int code_bits(const Number& number) {
  return std::visit(
      [](const auto& f) -> int {
        using F = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<F, FixedPoint>) return std::min(f.wl, 32);
        else if constexpr (std::is_same_v<F, FloatingPoint>) return 1 + f.exp + f.man;
        else if constexpr (std::is_same_v<F, BlockFloatingPoint>) return f.wl;
        else if constexpr (std::is_same_v<F, MXFormat>) return mx_element(f.element).bits();
        else return 0;
      },
      number);
}

bool is_block_format(const Number& number) {
  return std::holds_alternative<BlockFloatingPoint>(number) || std::holds_alternative<MXFormat>(number);
}

// Bytes of one block's scale: block floating point sends the 16-bit exponent of its
// quantum (or kZeroBlock), MX its E8M0 scale.
size_t scale_bytes(const Number& number) {
  if (std::holds_alternative<BlockFloatingPoint>(number)) return sizeof(int16_t);
  if (std::holds_alternative<MXFormat>(number)) return sizeof(uint8_t);
  return 0;
}

constexpr int16_t kZeroBlock = std::numeric_limits<int16_t>::min();

// A block's scale as the power of two its codes are multiplied by, and its inverse.
struct Unit {
  double unit = 1, inverse = 1;
  bool zero_block = false;  // block floating point: a block of zeros
};

// The element codec of a format.
struct ElementCodec {
  const Number& number;
  int bits;
  std::optional<MxElementCodec> mx{};
  FloatCodec fp{};
  Unit fixed{};

  explicit ElementCodec(const Number& n) : number(n), bits(code_bits(n)) {
    if (const auto* m = std::get_if<MXFormat>(&n)) mx = mx_element(m->element);
    if (const auto* f = std::get_if<FloatingPoint>(&n)) fp = float_codec(*f);
    if (const auto* f = std::get_if<FixedPoint>(&n)) fixed = {pow2(-f->fl), pow2(f->fl)};
  }
  // The unit of a block: block floating point's scale is the exponent of its quantum, MX's
  // the exponent of X (int8 elements count in 1/64).
  Unit block_unit(int scale) const {
    if (std::holds_alternative<BlockFloatingPoint>(number)) {
      if (scale == kZeroBlock) return {1, 1, true};
      return {pow2(scale), pow2(-scale)};
    }
    const int e = mx->integer ? scale - 6 : scale;
    return {pow2(e), pow2(-e)};
  }
  std::optional<uint32_t> encode(float x, const Unit& u) const {
    if (!std::isfinite(x)) return std::nullopt;
    std::optional<uint32_t> code;
    if (std::holds_alternative<FixedPoint>(number)) code = integer_code(x, fixed.inverse, bits);
    else if (std::holds_alternative<FloatingPoint>(number)) code = fp.encode(static_cast<double>(x));
    else if (u.zero_block) code = x == 0 ? std::optional<uint32_t>(0u) : std::nullopt;
    else if (std::holds_alternative<BlockFloatingPoint>(number) || mx->integer) code = integer_code(x, u.inverse, bits);
    else code = mx->fp.encode(static_cast<double>(x) * u.inverse);
    // Every code must decode to x (zeros of any sign compare equal: the integer codes
    // have one zero); anything else travels as an exception.
    if (code && decode(*code, u) != x) return std::nullopt;
    return code;
  }
  float decode(uint32_t code, const Unit& u) const {
    if (std::holds_alternative<FixedPoint>(number)) return integer_value(code, fixed.unit, bits);
    if (std::holds_alternative<FloatingPoint>(number)) return static_cast<float>(fp.decode(code));
    if (u.zero_block) return 0.0f;
    if (std::holds_alternative<BlockFloatingPoint>(number) || mx->integer) return integer_value(code, u.unit, bits);
    return static_cast<float>(mx->fp.decode(code) * u.unit);
  }
};

}  // namespace

void check_packable(const Number& number, const char* what) {
  validate(number);
  QTORCH_CHECK(!std::holds_alternative<NVFP4Format>(number),
               "{}: expected a format whose values can be sent as codes (fixed, float, block or mx), got {}: NVFP4's "
               "E4M3 block scales and float32 tensor scale cannot be recovered from its quantized values",
               what, to_string(number));
}

size_t payload_size(const Number& number, const Shape& shape) {
  check_packable(number);
  const size_t numel = static_cast<size_t>(numel_of(shape));
  const size_t blocks = is_block_format(number) ? Blocks{number, shape}.count() : 0;
  return sizeof(uint32_t) + blocks * scale_bytes(number) + (numel * static_cast<size_t>(code_bits(number)) + 7) / 8;
}

void encode_payload(const Tensor& q, const Number& number, std::vector<uint8_t>& out) {
  check_packable(number);
  QTORCH_CHECK(q.device().is_cpu() && q.is_contiguous(), "encode_payload: expected a contiguous CPU tensor, got {} on {}",
               q.is_contiguous() ? "a contiguous tensor" : "a strided tensor", q.device().str());
  const float* x = q.data_ptr();
  const int64_t numel = q.numel();
  QTORCH_CHECK(numel <= std::numeric_limits<uint32_t>::max(), "encode_payload: expected at most 2^32 - 1 elements, got {}", numel);
  const ElementCodec codec(number);
  std::vector<uint32_t> codes(static_cast<size_t>(numel), 0);
  std::vector<std::pair<uint32_t, float>> exceptions;
  std::vector<int> scales;  // per block

  if (is_block_format(number)) {
    const Blocks blocks{number, q.shape()};
    std::vector<float> largest(blocks.count(), 0.0f);  // finite magnitudes only
    blocks.for_each([&](int64_t i, size_t b) {
      if (std::isfinite(x[i])) largest[b] = std::max(largest[b], std::fabs(x[i]));
    });
    scales.resize(largest.size());
    if (std::holds_alternative<BlockFloatingPoint>(number)) {
      // The quantum 2^(E + 2 - wl), E the block's exponent (-126 at least); a maximum that
      // rounded up to 2^(E+1) makes E one too large, so a block that does not fit tries E - 1.
      for (size_t b = 0; b < largest.size(); ++b)
        scales[b] = largest[b] == 0 ? kZeroBlock : std::max(std::ilogb(largest[b]), -126) + 2 - codec.bits;
      std::vector<char> misfit(largest.size(), 0);
      std::vector<Unit> units(largest.size());
      for (size_t b = 0; b < largest.size(); ++b) units[b] = codec.block_unit(scales[b]);
      blocks.for_each([&](int64_t i, size_t b) {
        if (!misfit[b] && std::isfinite(x[i]) && !codec.encode(x[i], units[b])) misfit[b] = 1;
      });
      for (size_t b = 0; b < largest.size(); ++b)
        if (misfit[b] && scales[b] != kZeroBlock) scales[b] -= 1;
    } else {
      // MX: X = 2^(floor(log2 max) - emax of the element), an E8M0 value in [2^-127, 2^127].
      for (size_t b = 0; b < largest.size(); ++b)
        scales[b] = largest[b] == 0 ? 0 : std::clamp(std::ilogb(largest[b]) - codec.mx->emax, -127, 127);
    }
    std::vector<Unit> units(scales.size());
    for (size_t b = 0; b < scales.size(); ++b) units[b] = codec.block_unit(scales[b]);
    blocks.for_each([&](int64_t i, size_t b) {
      std::optional<uint32_t> code = codec.encode(x[i], units[b]);
      if (code) codes[static_cast<size_t>(i)] = *code;
      else exceptions.emplace_back(static_cast<uint32_t>(i), x[i]);
    });
  } else {
    for (int64_t i = 0; i < numel; ++i) {
      std::optional<uint32_t> code = codec.encode(x[i], Unit{});
      if (code) codes[static_cast<size_t>(i)] = *code;
      else exceptions.emplace_back(static_cast<uint32_t>(i), x[i]);
    }
  }
  put<uint32_t>(out, static_cast<uint32_t>(exceptions.size()));
  for (int scale : scales) {
    if (std::holds_alternative<BlockFloatingPoint>(number)) put<int16_t>(out, static_cast<int16_t>(scale));
    else out.push_back(static_cast<uint8_t>(scale + 127));
  }
  pack(codes, codec.bits, out);
  for (const auto& [index, value] : exceptions) {
    put<uint32_t>(out, index);
    put<float>(out, value);
  }
}

void decode_payload(const uint8_t* data, size_t size, size_t& offset, const Number& number, const Shape& shape,
                    float* out) {
  check_packable(number);
  const int64_t numel = numel_of(shape);
  const ElementCodec codec(number);
  const uint32_t n_exceptions = take<uint32_t>(data, size, offset);
  std::vector<int> scales;
  if (is_block_format(number)) {
    const size_t n = Blocks{number, shape}.count();
    scales.resize(n);
    for (size_t b = 0; b < n; ++b)
      scales[b] = std::holds_alternative<BlockFloatingPoint>(number) ? take<int16_t>(data, size, offset)
                                                                     : static_cast<int>(take<uint8_t>(data, size, offset)) - 127;
  }
  std::vector<uint32_t> codes;
  unpack(data, size, offset, static_cast<size_t>(numel), codec.bits, codes);
  if (is_block_format(number)) {
    std::vector<Unit> units(scales.size());
    for (size_t b = 0; b < scales.size(); ++b) units[b] = codec.block_unit(scales[b]);
    Blocks{number, shape}.for_each(
        [&](int64_t i, size_t b) { out[i] = codec.decode(codes[static_cast<size_t>(i)], units[b]); });
  } else {
    for (int64_t i = 0; i < numel; ++i) out[i] = codec.decode(codes[static_cast<size_t>(i)], Unit{});
  }
  for (uint32_t e = 0; e < n_exceptions; ++e) {
    const uint32_t index = take<uint32_t>(data, size, offset);
    const float value = take<float>(data, size, offset);
    QTORCH_CHECK(index < numel, "payload: exception index {} is out of range for {} elements (corrupt message)", index,
                 numel);
    out[index] = value;
  }
}

}  // namespace qtorch::dist
