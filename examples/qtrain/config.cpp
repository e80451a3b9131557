// Role names and Config helpers.
#include "examples/qtrain/config.h"

namespace qtrain {

const char* role_name(Role role) {
  static const char* names[] = {"weight", "activation", "error", "grad", "momentum", "acc"};
  return names[static_cast<int>(role)];
}

bool Config::low_precision() const {
  for (const FormatChoice& f : formats)
    if (!f.is_fp32()) return true;
  return false;
}

}  // namespace qtrain
