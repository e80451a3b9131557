// Names of the rounding modes and their parsing from text.
#include "qtorch/quant/rounding.h"

#include <cctype>

#include "qtorch/core/error.h"

namespace qtorch {
namespace {
struct Named {
  Rounding mode;
  const char* name;
};
constexpr Named kNames[] = {{Rounding::Stochastic, "stochastic"},
                            {Rounding::Nearest, "nearest"},
                            {Rounding::NearestEven, "nearest_even"},
                            {Rounding::TowardZero, "toward_zero"},
                            {Rounding::Up, "up"},
                            {Rounding::Down, "down"}};
}  // namespace

const char* rounding_name(Rounding rounding) {
  for (const Named& n : kNames)
    if (n.mode == rounding) return n.name;
  return "unknown";
}

std::string to_string(Rounding rounding) { return rounding_name(rounding); }

std::ostream& operator<<(std::ostream& os, Rounding rounding) {
  return os << rounding_name(rounding);
}

Rounding parse_rounding(std::string_view text) {
  std::string s;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    s += c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  for (const Named& n : kNames)
    if (s == n.name) return n.mode;
  QTORCH_FAIL(
      "parse_rounding: expected one of stochastic, nearest, nearest_even, toward_zero, up, down; "
      "got '{}'",
      text);
}

void check_rounding(Rounding rounding, std::string_view what) {
  for (const Named& n : kNames)
    if (n.mode == rounding) return;
  std::string names;
  for (const Named& n : kNames) names += std::string(names.empty() ? "" : ", ") + n.name;
  QTORCH_FAIL("{}: expected a rounding mode ({}), got the value {}", what, names, static_cast<int>(rounding));
}

}  // namespace qtorch
