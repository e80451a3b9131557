// Writing files atomically: the content goes to a temporary file in the target's folder,
// which is renamed over the target only once it is complete. A reader sees the old file
// or the new one, never a fragment, and no temporary is left behind on failure.
#pragma once

#include <string>

namespace qtorch {

/// A fresh, unused name for a temporary file beside `path` (same folder, so a rename onto
/// `path` is atomic): "<path>.tmp.<pid>.<n>", with the end of a long file name cut so that
/// the temporary's name stays within 255 bytes.
std::string temporary_path_beside(const std::string& path);

/// Renames `temporary` over `path`. On failure removes `temporary` and throws
/// std::runtime_error "cannot replace '<path>': <OS reason>".
void replace_file(const std::string& temporary, const std::string& path);

/// Writes `content` to `path` atomically (temporary file, flush, fsync, rename, then an
/// fsync of the folder so the rename itself is durable where the file system allows). It
/// first removes the temporaries of `path` that killed writers left (their process is gone
/// from this machine and the file untouched for a minute). Throws
/// std::runtime_error "cannot write '<path>': <OS reason>" on any failure; `path` is then
/// unchanged and the temporary file removed.
/// Test hook: with QTORCH_TEST_KILL_WRITE="N:STAGE" in the environment the process kills
/// itself (SIGKILL) at STAGE of its N-th atomic write, STAGE one of opened, half, written,
/// synced, renamed (tests/examples/qtrain_crash_test.cpp); with QTORCH_TEST_FAIL_WRITE="N"
/// the N-th atomic write fails as on a full disk (ENOSPC).
void write_file_atomically(const std::string& path, const std::string& content);

}  // namespace qtorch
