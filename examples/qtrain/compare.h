// --compare: several runs' metrics files side by side, as a table and as one plot.
#pragma once

#include "examples/qtrain/config.h"

namespace qtrain {

/// Prints one row per metrics file of config.compare and draws them together into
/// config.plot_path when given. Returns the process exit code.
int run_compare(const Config& config);

}  // namespace qtrain
