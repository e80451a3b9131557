// Atomic file writes through a temporary file and a rename.
#include "qtorch/core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace qtorch {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
  throw std::runtime_error(what + " '" + path + "': " + std::strerror(err));
}

// Test hook of the crash-safety tests: QTORCH_TEST_KILL_WRITE="N:STAGE" kills this process
// with SIGKILL at STAGE of its N-th atomic write (from 1), so that every window of the
// writer is hit deterministically. STAGE: opened (empty temporary), half (half the bytes),
// written, synced (closed), renamed (before the folder fsync).
void kill_point(int64_t write_number, const char* stage) {
  static const char* spec = std::getenv("QTORCH_TEST_KILL_WRITE");
  if (spec == nullptr) return;
  const std::string s = spec;
  const size_t colon = s.find(':');
  if (colon == std::string::npos) return;
  if (s.substr(0, colon) == std::to_string(write_number) && s.substr(colon + 1) == stage) ::kill(::getpid(), SIGKILL);
}

// Test hook of the same tests: QTORCH_TEST_FAIL_WRITE="N" makes the N-th atomic write fail
// as a full disk would (ENOSPC), so that a caller's handling of a failed write can be tested.
bool fail_point(int64_t write_number) {
  static const char* spec = std::getenv("QTORCH_TEST_FAIL_WRITE");
  return spec != nullptr && std::to_string(write_number) == spec;
}

std::atomic<int64_t> writes{0};

// Removes the temporaries "<path>.tmp.<pid>.<n>" that writers killed mid-write left beside
// `path` (no process can clean up after SIGKILL): those of processes that no longer exist
// on this machine, untouched for a minute (a writer on another machine sharing the folder
// keeps its file fresh). Best effort: nothing here throws.
void remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path target(path);
  const std::string prefix = target.filename().string() + ".tmp.";
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  fs::directory_iterator it(folder, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());  // "<pid>.<n>"
    const size_t dot = rest.find('.');
    if (dot == 0 || dot == std::string::npos || dot + 1 == rest.size() ||
        rest.find_first_not_of("0123456789.") != std::string::npos || rest.find('.', dot + 1) != std::string::npos)
      continue;
    const long pid = std::strtol(rest.substr(0, dot).c_str(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code time_ec;
    const auto written = fs::last_write_time(it->path(), time_ec);
    if (time_ec || fs::file_time_type::clock::now() - written < std::chrono::minutes(1)) continue;
    fs::remove(it->path(), time_ec);
  }
}

}  // namespace

std::string temporary_path_beside(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  const std::string suffix = ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  // The temporary's own name must fit in a folder entry (255 bytes) wherever the target's
  // does: a long name is shortened so that it does, so a valid target is always writable.
  constexpr size_t kNameMax = 255;
  const size_t slash = path.rfind('/');
  const size_t name_length = path.size() - (slash == std::string::npos ? 0 : slash + 1);
  if (name_length + suffix.size() <= kNameMax) return path + suffix;
  return path.substr(0, path.size() - (name_length + suffix.size() - kNameMax)) + suffix;
}

void replace_file(const std::string& temporary, const std::string& path) {
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(temporary.c_str());
    fail("cannot replace", path, err);
  }
}

void write_file_atomically(const std::string& path, const std::string& content) {
  const int64_t number = ++writes;
  remove_stale_temporaries(path);
  const std::string tmp = temporary_path_beside(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot write", path, errno);
  kill_point(number, "opened");
  auto give_up = [&](int err) {
    ::close(fd);
    std::remove(tmp.c_str());
    fail("cannot write", path, err);
  };
  // Writes content[from, to), retrying short writes.
  auto write_range = [&](size_t from, size_t to) {
    while (from < to) {
      ssize_t n = ::write(fd, content.data() + from, to - from);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) give_up(n < 0 ? errno : EIO);
      from += static_cast<size_t>(n);
    }
  };
  if (fail_point(number)) give_up(ENOSPC);
  write_range(0, content.size() / 2);
  kill_point(number, "half");
  write_range(content.size() / 2, content.size());
  kill_point(number, "written");
  if (::fsync(fd) != 0) give_up(errno);
  if (::close(fd) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    fail("cannot write", path, err);
  }
  kill_point(number, "synced");
  replace_file(tmp, path);
  kill_point(number, "renamed");
  // Make the rename itself durable (best effort: some file systems refuse a folder fsync).
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace qtorch
