// Atomic file writes through a temporary file and a rename.
#include "qtorch/core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cerrno>
#include <cstdio>
#include <cstring>
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
