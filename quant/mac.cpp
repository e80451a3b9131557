// qmatmul: option validation and text form, the kernel dispatch, and the graph op.
#include "qtorch/quant/mac.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <vector>

#include "qtorch/autograd/grad_mode.h"
#include "qtorch/autograd/node.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/view.h"
#include "qtorch/quant/cpu/qmatmul_cpu.h"
#include "qtorch/quant/qmatmul_cuda.h"
#include "qtorch/quant/quantize.h"

namespace qtorch::quant {
namespace {

constexpr const char* kMacKeys =
    "acc=FORMAT (required), mul=FORMAT, acc_rounding=NAME, mul_rounding=NAME, chunk=N, fma, kahan";

void check_operation_format(const Number& n, const char* role) {
  QTORCH_CHECK(std::holds_alternative<FixedPoint>(n) || std::holds_alternative<FloatingPoint>(n),
               "MacOptions: expected a fixed or floating point {} format (block, MX and NVFP4 formats "
               "are per tensor, not per operation), got {}",
               role, to_string(n));
  validate(n);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) return parts;
    start = pos + 1;
  }
}

// The text without spaces, in lower case.
std::string compact_lower(std::string_view text) {
  std::string s;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

[[noreturn]] void bad_mac(std::string_view text, const std::string& why) {
  QTORCH_FAIL("parse_mac: expected comma-separated {}; got '{}': {}", kMacKeys, text, why);
}

}  // namespace

void MacOptions::validate() const {
  check_rounding(accumulate_rounding, "MacOptions: accumulate_rounding");
  check_rounding(multiply_rounding, "MacOptions: multiply_rounding");
  if (multiply) check_operation_format(*multiply, "multiply");
  check_operation_format(accumulate, "accumulate");
  QTORCH_CHECK(!(fma && multiply), "MacOptions: fma rounds a*b + c once, so it takes no multiply format; got "
               "fma with multiply {}", to_string(*multiply));
  QTORCH_CHECK(!(compensated && chunk > 0),
               "MacOptions: expected compensated (Kahan) or chunk-based accumulation, not both; got "
               "compensated with chunk={}", chunk);
  QTORCH_CHECK(!(compensated && fma),
               "MacOptions: expected compensated (Kahan) or fma, not both (Kahan's steps start from a rounded "
               "product, which fma never forms); got compensated with fma");
  QTORCH_CHECK(chunk >= 0 && chunk < (int64_t{1} << 31),
               "MacOptions: expected 0 <= chunk < 2^31 (0: off), got chunk={}", chunk);
}

std::string mac_text(const MacOptions& o) {
  std::string s = "acc=" + number_text(o.accumulate);
  if (o.multiply) s += ",mul=" + number_text(o.multiply);
  if (o.accumulate_rounding != Rounding::Nearest)
    s += std::string(",acc_rounding=") + rounding_name(o.accumulate_rounding);
  if (o.multiply_rounding != Rounding::Nearest)
    s += std::string(",mul_rounding=") + rounding_name(o.multiply_rounding);
  if (o.chunk > 0) s += ",chunk=" + std::to_string(o.chunk);
  if (o.fma) s += ",fma";
  if (o.compensated) s += ",kahan";
  return s;
}

MacOptions parse_mac(std::string_view text) {
  const std::string s = compact_lower(text);
  MacOptions o;
  bool has_acc = false;
  std::vector<std::string> seen;  // each key once: a second one would silently win
  for (const std::string& part : split(s, ',')) {
    const size_t eq = part.find('=');
    const std::string key = part.substr(0, eq), value = eq == std::string::npos ? "" : part.substr(eq + 1);
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) bad_mac(text, "'" + key + "' given twice");
    seen.push_back(key);
    auto number = [&]() -> Number {
      std::optional<Number> n;
      try {
        n = parse_number(value);
      } catch (const Error& e) {
        bad_mac(text, fmt::format("{}: {}", key, e.what()));
      }
      if (!n)
        bad_mac(text, key == "mul" ? "mul=fp32 is no format (leave mul out: products are then exact)"
                                   : "acc=fp32 is no format (write acc=float:8:23 for a float32 accumulator, "
                                     "or the whole option as fp32 for float32 products)");
      return *n;
    };
    auto rounding = [&] {
      try {
        return parse_rounding(value);
      } catch (const Error& e) {
        bad_mac(text, fmt::format("{}: {}", key, e.what()));
      }
    };
    if (key == "acc" && eq != std::string::npos) {
      o.accumulate = number();
      has_acc = true;
    } else if (key == "mul" && eq != std::string::npos) {
      o.multiply = number();
    } else if (key == "acc_rounding" && eq != std::string::npos) {
      o.accumulate_rounding = rounding();
    } else if (key == "mul_rounding" && eq != std::string::npos) {
      o.multiply_rounding = rounding();
    } else if (key == "chunk" && eq != std::string::npos) {
      int64_t n = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || ptr != value.data() + value.size() || value.empty() || n < 1)
        bad_mac(text, "chunk expects a positive integer, got '" + value + "'");
      o.chunk = n;
    } else if (part == "fma") {
      o.fma = true;
    } else if (part == "kahan") {
      o.compensated = true;
    } else {
      bad_mac(text, "unknown part '" + part + "'" +
                        (part == "fp32" || part == "none"
                             ? " (the float32 product is no MacOptions; where options are optional, fp32 alone means none)"
                             : ""));
    }
  }
  if (!has_acc) bad_mac(text, "no acc=FORMAT");
  try {
    o.validate();
  } catch (const Error& e) {
    bad_mac(text, e.what());
  }
  return o;
}

std::optional<MacOptions> parse_optional_mac(std::string_view text) {
  const std::string s = compact_lower(text);
  if (s == "fp32" || s == "none") return std::nullopt;
  return parse_mac(text);
}

MacParams mac_params(const MacOptions& options, int64_t M, int64_t K, int64_t N) {
  options.validate();
  MacParams m;
  m.M = M;
  m.K = K;
  m.N = N;
  m.has_mul = options.multiply.has_value();
  if (m.has_mul) m.mul = make_quant_params(*options.multiply, options.multiply_rounding, {1});
  m.acc = make_quant_params(options.accumulate, options.accumulate_rounding, {1});
  m.fma = options.fma;
  m.compensated = options.compensated;
  m.chunk = options.chunk;
  set_mac_word_layout(m);
  return m;
}

Tensor qmatmul_forward(const Tensor& a, const Tensor& b, const MacOptions& options, Generator* generator) {
  options.validate();
  QTORCH_CHECK(a.defined() && b.defined() && a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0),
               "qmatmul: expected [M, K] x [K, N], got {} x {}", a.defined() ? shape_str(a.shape()) : "undefined",
               b.defined() ? shape_str(b.shape()) : "undefined");
  QTORCH_CHECK(a.device() == b.device(), "qmatmul: expected both operands on one device, got {} and {}",
               a.device().str(), b.device().str());
  NoGradGuard no_grad;
  const MacParams m = mac_params(options, a.size(0), a.size(1), b.size(1));
  const bool stochastic = (m.has_mul && m.mul.kind == RoundKind::Stochastic) || m.acc.kind == RoundKind::Stochastic;
  uint64_t seed = 0, offset = 0;
  if (stochastic) {
    Generator& g = generator ? *generator : default_generator();
    seed = g.seed();
    offset = g.reserve(static_cast<uint64_t>((m.M * m.N * m.slots + 3) / 4));
  }
  const Tensor ac = ops::contiguous(a);
  Tensor out = empty({m.M, m.N}, a.device());
  if (m.M * m.N > 0) {
    if (a.device().is_cpu()) {
      const Tensor bc = ops::contiguous(b);  // [K, N]: the vector kernel reads rows of B
      qmatmul_cpu(ac.data_ptr(), bc.data_ptr(), out.data_ptr(), m, seed, offset);
    } else {
      // B transposed to [N, K], so each output's chain reads both operands contiguously
      // (quant/qmatmul_cuda.h).
      const Tensor bt = ops::contiguous(ops::transpose(b, 0, 1));
      qmatmul_cuda(ac.data_ptr(), bt.data_ptr(), out.data_ptr(), m, seed, offset);
    }
  }
  return out;
}

Tensor product_with(const Tensor& a, const Tensor& b, const std::optional<MacOptions>& options) {
  return options ? qmatmul_forward(a, b, *options) : ops::matmul(a, b);
}

Tensor qmatmul(const Tensor& a, const Tensor& b, const std::optional<MacOptions>& forward,
               const std::optional<MacOptions>& backward) {
  if (forward) forward->validate();
  if (backward) backward->validate();
  QTORCH_CHECK(a.defined() && b.defined() && a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0),
               "qmatmul: expected [M, K] x [K, N], got {} x {}", a.defined() ? shape_str(a.shape()) : "undefined",
               b.defined() ? shape_str(b.shape()) : "undefined");
  Tensor y;
  {
    NoGradGuard no_grad;
    y = product_with(a, b, forward);
  }
  return record("qmatmul", y, {a, b}, [&] {
    return [a = save(a), b = save(b), backward](const Tensor& g, const Node& n) -> Grads {
      // dA = g B^T and dB = A^T g, each a multiply-accumulate chain of its own.
      return {n.needs_input_grad(0) ? product_with(g, ops::transpose(b.get(), 0, 1), backward) : Tensor(),
              n.needs_input_grad(1) ? product_with(ops::transpose(a.get(), 0, 1), g, backward) : Tensor()};
    };
  });
}

Tensor qmatmul(const Tensor& a, const Tensor& b, const MacOptions& options) { return qmatmul(a, b, options, options); }

}  // namespace qtorch::quant
