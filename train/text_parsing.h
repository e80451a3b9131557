// Small helpers of train/'s text forms (recipes, loss scaling, schedules).
#pragma once

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

/// A finite number spelled out completely ("4096", "1e3", "0.5"; not "", "1x", "inf").
inline bool read_finite(const std::string& s, double& out) {
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size() && std::isfinite(out);
}

}  // namespace qtorch::train::text
