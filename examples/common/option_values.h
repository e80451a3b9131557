// Options given with an empty value ("--json ''"): an error naming the option, not "option not
// given", which a script whose $OUT is unset would otherwise meet silently (training from
// scratch, reading the default folder, or writing nothing).
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace qtorch::examples {

/// For each {option, what} (e.g. {"--json", "a file name"}) given on `app`'s command line
/// with an empty value: throws std::invalid_argument "OPTION: expected WHAT, got ''".
inline void refuse_empty_values(const CLI::App& app, const std::vector<std::pair<std::string, std::string>>& options) {
  for (const auto& [name, what] : options) {
    const CLI::Option* option = app.get_option(name);
    for (const std::string& value : option->results())
      if (value.empty()) throw std::invalid_argument(name + ": expected " + what + ", got ''");
  }
}

}  // namespace qtorch::examples
