// Option numbers with std::from_chars: no leading blanks, signs other than '-', hex
// prefixes or trailing characters; out-of-range values are errors, never clamped.
#include "examples/common/option_number.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace qtorch::examples {
namespace {

// True when the whole of `text` is a number of type T that from_chars can represent.
template <typename T>
bool read_whole(const std::string& text, T& value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return !text.empty() && ec == std::errc() && ptr == end;
}

[[noreturn]] void fail(const std::string& option, const std::string& expected, const std::string& text) {
  throw std::invalid_argument(option + ": expected " + expected + ", got '" + text + "'");
}

}  // namespace

int64_t parse_integer_option(const std::string& option, const std::string& text, int64_t min,
                             int64_t max) {
  int64_t value = 0;
  if (!read_whole(text, value) || value < min || value > max)
    fail(option, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]", text);
  return value;
}

uint64_t parse_unsigned_option(const std::string& option, const std::string& text) {
  uint64_t value = 0;
  if (!read_whole(text, value))
    fail(option, "an integer in [0, " + std::to_string(std::numeric_limits<uint64_t>::max()) + "]", text);
  return value;
}

double parse_real_option(const std::string& option, const std::string& text, bool (*in_range)(double),
                         const std::string& expected) {
  double value = 0;
  if (!read_whole(text, value) || !std::isfinite(value) || !in_range(value)) fail(option, expected, text);
  return value;
}

}  // namespace qtorch::examples
