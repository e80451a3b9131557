// The provenance of a qrepro run: git commit of the source tree, UTC date, threads, command.
#include "examples/papers/provenance.h"

#include <cstdio>
#include <ctime>

#include <fmt/format.h>

namespace qrepro {

namespace {

// The first line that `command` prints, or "" when it fails.
std::string first_line(const std::string& command) {
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return "";
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  const int status = ::pclose(pipe);
  if (status != 0) return "";
  return out.substr(0, out.find('\n'));
}

std::string commit() {
#ifdef QREPRO_SOURCE_DIR
  const std::string git = fmt::format("git -C '{}' ", QREPRO_SOURCE_DIR);
  const std::string sha = first_line(git + "rev-parse HEAD 2>/dev/null");
  if (sha.empty()) return "unknown";
  const std::string dirty = first_line(git + "status --porcelain --untracked-files=no 2>/dev/null | head -1");
  return dirty.empty() ? sha : sha + "-dirty";
#else
  return "unknown";
#endif
}

}  // namespace

nlohmann::json provenance(int argc, char** argv, int threads) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return {{"commit", commit()}, {"date", date}, {"threads", threads}, {"command", command}};
}

}  // namespace qrepro
