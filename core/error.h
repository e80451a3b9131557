// The one exception type of qtorch and the check macro that formats its message.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace qtorch {

/// Thrown for every bad argument, shape, format or file; the message names the op,
/// what it expected and what it got.
class Error : public std::invalid_argument {
 public:
  explicit Error(const std::string& message) : std::invalid_argument(message) {}
};

}  // namespace qtorch

/// QTORCH_CHECK(cond, "op: expected {}, got {}", a, b) throws qtorch::Error when cond fails.
#define QTORCH_CHECK(cond, ...)                               \
  do {                                                        \
    if (!(cond)) throw ::qtorch::Error(fmt::format(__VA_ARGS__)); \
  } while (0)

/// QTORCH_FAIL("...") always throws qtorch::Error.
#define QTORCH_FAIL(...) throw ::qtorch::Error(fmt::format(__VA_ARGS__))
