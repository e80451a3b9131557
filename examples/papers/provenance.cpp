// The provenance of a qrepro run: the git commit it was built from ("-dirty" when tracked files
// differed from it), UTC date, threads, command.
#include "examples/papers/provenance.h"

#include <ctime>

#include "qrepro_build_commit.h"  // QREPRO_BUILD_COMMIT, made by the build

namespace qrepro {

nlohmann::json provenance(int argc, char** argv, int threads) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return {{"commit", QREPRO_BUILD_COMMIT}, {"date", date}, {"threads", threads}, {"command", command}};
}

}  // namespace qrepro
