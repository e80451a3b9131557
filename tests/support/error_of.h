// The message of the qtorch::Error that a call throws, for tests of error messages.
#pragma once

#include <string>
#include <utility>

#include "qtorch/core/error.h"

namespace qtorch::testing {

// The message of the qtorch::Error that f throws, or "" when it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace qtorch::testing
