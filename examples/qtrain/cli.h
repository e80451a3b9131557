// qtrain's command line: CLI11 options into a Config, preset expansion, and the checks
// that reject bad options with one clear line before any training starts.
#pragma once

#include <optional>
#include <string>

#include "examples/qtrain/config.h"

namespace qtrain {

/// Parses argv into `config`. Returns an exit code when the program should stop now
/// (0 after --help, 2 after printing one "qtrain: error: ..." line for a bad option),
/// std::nullopt to go on. With `error` given, a bad option's message is stored there
/// instead of printed (a sweep records it with the run).
std::optional<int> parse_command_line(int argc, char** argv, Config& config, std::string* error = nullptr);

/// Checks option values that do not need the data or the library: ranges, names,
/// syntax of --schedule and --loss-scale, output paths. Throws std::invalid_argument
/// with a message naming the option.
void check_config(const Config& config);

}  // namespace qtrain
