// Small helpers of train/'s text forms (recipes, loss scaling, schedules).
#pragma once

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

namespace qtorch::train::text {

/// "a:b:c" -> {"a", "b", "c"}; "" -> {""}.
inline std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t pos = text.find(sep, start);
    parts.push_back(text.substr(start, pos - start));
    if (pos == std::string::npos) return parts;
    start = pos + 1;
  }
}

/// A finite decimal number spelled out completely ("4096", "1e3", "0.5", "-2"; not "", "1x",
/// "inf", " 1", "+1" or the hexadecimal "0x10", as the command lines' other numbers).
inline bool read_finite(const std::string& s, double& out) {
  if (s.empty() || !(std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '.') ||
      s.find_first_of("xX") != std::string::npos)
    return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(out);
}

/// The shortest decimal text that reads back as exactly v.
inline std::string exact(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

}  // namespace qtorch::train::text
