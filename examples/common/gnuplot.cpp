// Running gnuplot on a temporary script file, drawing into a temporary output file.
#include "examples/common/gnuplot.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "qtorch/core/atomic_file.h"

namespace qtorch::examples {
namespace {

// POSIX shell single-quoted word: ' becomes '\''.
std::string shell_word(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

// gnuplot's messages as one line: the non-blank lines, minus the caret markers, joined.
std::string one_line(const std::string& text) {
  std::stringstream ss(text);
  std::string line, out;
  while (std::getline(ss, line)) {
    size_t first = line.find_first_not_of(" \t\r^");
    if (first == std::string::npos) continue;
    size_t last = line.find_last_not_of(" \t\r");
    if (!out.empty()) out += " | ";
    out += line.substr(first, last - first + 1);
  }
  return out.empty() ? "no message" : out;
}

// Creates `path` empty (failing if it exists); throws "<option>: cannot write '<target>': <reason>".
void create_empty(const std::string& path, const std::string& target, const std::string& option) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error(option + ": cannot write '" + target + "': " + std::strerror(errno));
  ::close(fd);
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

void check_gnuplot_text(const std::string& what, const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i)
    if (is_control(text[i])) {
      char byte[8];
      std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(text[i]));
      std::string shown;
      for (char c : text) shown += is_control(c) ? '?' : c;
      throw std::invalid_argument(what + ": expected text without control characters, got '" + shown +
                                  "' (byte " + byte + " at position " + std::to_string(i) + ")");
    }
}

std::string gnuplot_string(const std::string& s) {
  check_gnuplot_text("gnuplot string", s);
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

void run_gnuplot(const std::string& terminal, const std::string& commands, const std::string& output_path,
                 const std::string& option, const std::string& tag) {
  check_gnuplot_text(option, output_path);
  const std::string gnuplot = find_gnuplot();
  if (gnuplot.empty()) throw std::runtime_error(option + ": " + gnuplot_missing_message());
  std::error_code ec;
  if (std::filesystem::is_directory(output_path, ec))
    throw std::runtime_error(option + ": cannot write '" + output_path + "': " + std::strerror(EISDIR));

  // gnuplot draws into `drawing`, which replaces the target only when complete.
  const std::string drawing = temporary_path_beside(output_path);
  create_empty(drawing, output_path, option);
  const std::string script = temporary_path_beside((std::filesystem::temp_directory_path() / (tag + ".gp")).string());
  try {
    write_file_atomically(script, terminal + "\nset output " + gnuplot_string(drawing) + "\n" + commands +
                                      "\nset output\n");
  } catch (const std::exception& e) {
    std::remove(drawing.c_str());
    throw std::runtime_error(option + ": cannot write the gnuplot script: " + e.what());
  }
  std::string command = shell_word(gnuplot) + " " + shell_word(script) + " 2>&1";
  std::string output;
  int status = -1;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[512];
    while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
    status = ::pclose(pipe);
    if (status != -1 && WIFSIGNALED(status))
      output += std::string("\ngnuplot was stopped by the signal ") + strsignal(WTERMSIG(status));
  } else {
    output = std::string("cannot run ") + gnuplot + ": " + std::strerror(errno);
  }
  std::remove(script.c_str());
  if (status != 0 || std::filesystem::file_size(drawing, ec) == 0 || ec) {
    std::remove(drawing.c_str());
    throw std::runtime_error(option + ": gnuplot failed to draw '" + output_path + "': " + one_line(output));
  }
  try {
    replace_file(drawing, output_path);
  } catch (const std::exception& e) {
    throw std::runtime_error(option + ": " + e.what());
  }
}

}  // namespace qtorch::examples
