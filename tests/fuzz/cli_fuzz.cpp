// Fuzzes qtrain's command line (examples/qtrain/cli.h parse_command_line): the input split
// on NUL bytes is the argument vector after "qtrain". It prints help or one error line and
// returns an exit code, or accepts the options; no exception may escape. Run it in a
// scratch folder: the output-path checks create (and remove) a probe file beside each
// output path they are given.
#include <cstdint>
#include <string>
#include <vector>

#include "examples/qtrain/cli.h"
#include "examples/qtrain/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args = {"qtrain"};
  std::string current;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      args.push_back(current);
      current.clear();
    } else {
      current.push_back(static_cast<char>(data[i]));
    }
  }
  if (size > 0) args.push_back(current);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  qtrain::Config config;
  (void)qtrain::parse_command_line(static_cast<int>(args.size()), argv.data(), config);
  return 0;
}
