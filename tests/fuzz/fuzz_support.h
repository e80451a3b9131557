// Helpers shared by the libFuzzer targets in tests/fuzz: the input as a file (for the
// readers that take a path) and a check that fails loudly.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace qtorch_fuzz {

/// The fuzz input as an anonymous in-memory file (memfd), reachable through path():
/// no disk traffic and nothing left behind.
class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size) {
    fd_ = ::memfd_create("qtorch-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::write(fd_, data + done, size - done);
      if (n <= 0) {
        std::perror("write");
        std::abort();
      }
      done += static_cast<size_t>(n);
    }
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_ = -1;
};

/// Aborts (a finding for libFuzzer) with `message` when `ok` is false.
inline void require(bool ok, const std::string& message) {
  if (!ok) {
    std::fprintf(stderr, "fuzz check failed: %s\n", message.c_str());
    std::abort();
  }
}

}  // namespace qtorch_fuzz
