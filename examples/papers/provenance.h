// Where a qrepro result came from: the source commit, the time, the thread count and the
// command line, written into every part's JSON.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace qrepro {

/// {"commit": "<sha>[-dirty]" or "unknown", "date": "2026-12-05T01:02:03Z", "threads": N,
/// "command": "qrepro 1a --seeds 5"}. The commit is the one the program was built from (read
/// with git at build time, not when it runs); "unknown" when git or the tree was missing.
nlohmann::json provenance(int argc, char** argv, int threads);

}  // namespace qrepro
