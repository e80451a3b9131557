// Running gnuplot on a temporary script file.
#include "examples/common/gnuplot.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace qtorch::examples {
namespace {
// POSIX shell single-quoted word: ' becomes '\''.
std::string shell_word(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
}  // namespace

std::string find_gnuplot() {
  const char* path_env = std::getenv("PATH");
  std::stringstream ss(path_env ? path_env : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/gnuplot";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string gnuplot_missing_message() {
  return "gnuplot is not installed, so no plot was drawn: install the Debian package gnuplot-nox "
         "(sudo apt-get install gnuplot-nox, or run scripts/install-deps.sh)";
}

std::string gnuplot_string(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

void run_gnuplot(const std::string& script, const std::string& output_path, const std::string& tag) {
  const std::string gnuplot = find_gnuplot();
  if (gnuplot.empty()) throw std::runtime_error(gnuplot_missing_message());
  std::filesystem::path file = std::filesystem::temp_directory_path() /
                               (tag + "_" + std::to_string(::getpid()) + ".gp");
  {
    std::ofstream out(file);
    out << script;
    if (!out) throw std::runtime_error("plot: cannot write " + file.string());
  }
  std::string command = shell_word(gnuplot) + " " + shell_word(file.string()) + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("plot: cannot run " + gnuplot);
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  int status = ::pclose(pipe);
  std::error_code ec;
  std::filesystem::remove(file, ec);
  if (status != 0 || !std::filesystem::exists(output_path))
    throw std::runtime_error("plot: gnuplot failed to draw " + output_path + ": " + output);
}

}  // namespace qtorch::examples
