// Named low-precision recipes: one row per preset giving the format and rounding of each
// role, so --preset NAME fills the six --<role>-format options at once.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "examples/qtrain/config.h"

namespace qtrain {

struct Preset {
  std::string name;
  std::string summary;  ///< one line for --help and the start-up banner
  std::array<FormatChoice, kNumRoles> formats;  ///< indexed by Role
  std::string loss_scale;                       ///< "" when the recipe needs none
};

/// Every preset, in the order --help lists them.
const std::vector<Preset>& presets();
/// The preset called `name`; throws std::invalid_argument listing the valid names.
const Preset& find_preset(const std::string& name);
/// "fp32, block8, fixed16, ..." for help texts and errors.
std::string preset_names();

}  // namespace qtrain
