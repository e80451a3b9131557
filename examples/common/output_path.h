// Start-up checks of the files a program will write (--metrics, --checkpoint, --plot,
// --json): each can be created, and no two options name the same file; and of the files it
// will read (--resume, --sweep, --compare): each is a file. Shared by the example programs
// so that a bad path is reported before any work, not after it.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace qtorch::examples {

/// Checks that `path`, the value of `option`, can be written: it is not a directory and
/// a file can be created (and removed) in its folder. "" (no output) passes. Throws
/// std::invalid_argument "OPTION: cannot write 'PATH': REASON" (REASON from the OS).
void check_output_path(const std::string& option, const std::string& path);

/// Checks that `path`, the value of `option`, is an existing regular file. Throws
/// std::invalid_argument "OPTION: no such file 'PATH'", "OPTION: expected a WHAT, got the
/// folder 'PATH'", or "OPTION: cannot read 'PATH': REASON" (the OS's, e.g. a name too long).
void check_input_file(const std::string& option, const std::string& path, const std::string& what = "file");

/// Throws std::invalid_argument when two of `outputs` ({option, path}; "" paths are
/// skipped) name the same file, however spelled ("a.json", "./a.json", a symlink...).
void check_distinct_outputs(const std::vector<std::pair<std::string, std::string>>& outputs);

}  // namespace qtorch::examples
