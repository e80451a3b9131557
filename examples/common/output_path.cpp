// Start-up checks of output paths: a temporary file is created and removed in the
// target's folder, so the OS itself says whether the real file could be written.
#include "examples/common/output_path.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace qtorch::examples {
namespace fs = std::filesystem;

void check_output_path(const std::string& option, const std::string& path) {
  if (path.empty()) return;
  auto fail = [&](const std::string& reason) {
    throw std::invalid_argument(option + ": cannot write '" + path + "': " + reason);
  };
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail("it is a directory");
  fs::path folder = fs::path(path).parent_path();
  if (folder.empty()) folder = ".";
  std::string probe = (folder / (".qtorch-write-check-" + std::to_string(::getpid()))).string();
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    int err = errno;
    fail("cannot create a file in folder '" + folder.string() + "': " + std::strerror(err));
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

void check_input_file(const std::string& option, const std::string& path, const std::string& what) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
    throw std::invalid_argument(option + ": cannot read '" + path + "': " + ec.message());
  if (fs::is_directory(st)) throw std::invalid_argument(option + ": expected a " + what + ", got the folder '" + path + "'");
  if (!fs::is_regular_file(st)) throw std::invalid_argument(option + ": no such file '" + path + "'");
}

void check_distinct_outputs(const std::vector<std::pair<std::string, std::string>>& outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    for (size_t j = i + 1; j < outputs.size(); ++j) {
      const auto& [option_a, path_a] = outputs[i];
      const auto& [option_b, path_b] = outputs[j];
      if (path_a.empty() || path_b.empty()) continue;
      std::error_code ec_a, ec_b;
      fs::path a = fs::weakly_canonical(path_a, ec_a), b = fs::weakly_canonical(path_b, ec_b);
      if (ec_a || ec_b ? path_a == path_b : a == b)
        throw std::invalid_argument(option_a + " and " + option_b + ": expected two different files, got '" +
                                    path_a + "' and '" + path_b + "' (the same file)");
    }
  }
}

}  // namespace qtorch::examples
