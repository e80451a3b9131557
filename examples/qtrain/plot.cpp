// gnuplot driver: writes a script with inline data blocks and runs it.
#include "examples/qtrain/plot.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace qtrain {
namespace {

// gnuplot single-quoted string: only '' needs escaping.
std::string gp_string(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// POSIX shell single-quoted word: ' becomes '\''.
std::string shell_word(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string terminal_for(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".svg") return "set terminal svg size 1100,500 dynamic noenhanced background rgb 'white'";
  if (ext == ".png") return "set terminal pngcairo size 1100,500 noenhanced";
  throw std::runtime_error("--plot: expected a file name ending in .png or .svg, got '" + path + "'");
}

std::string make_script(const std::vector<std::pair<std::string, RunMetrics>>& runs,
                        const std::string& path) {
  std::ostringstream s;
  s.precision(8);
  for (size_t r = 0; r < runs.size(); ++r) {
    s << "$run" << r << " << EOD\n";
    for (const EpochRecord& e : runs[r].second.epochs)
      s << e.epoch << ' ' << e.train_loss << ' ' << e.test_loss << ' ' << e.train_accuracy << ' '
        << e.test_accuracy << '\n';
    s << "EOD\n";
  }
  s << terminal_for(path) << "\n"
    << "set output " << gp_string(path) << "\n"
    << "set multiplot layout 1,2\n"
    << "set grid\nset key outside bottom center horizontal\nset xlabel 'epoch'\n"
    << "set xtics 1\nset mxtics 1\nset offsets 0.1, 0.1, 0, 0\n";
  auto panel = [&](const char* title, int train_col, int test_col) {
    s << "set title '" << title << "'\nplot ";
    for (size_t r = 0; r < runs.size(); ++r) {
      const std::string& name = runs[r].first;
      if (r) s << ", ";
      s << "$run" << r << " using 1:" << train_col << " with linespoints lc " << r + 1
        << " dt 2 pt 6 title " << gp_string(name + " train") << ", $run" << r << " using 1:" << test_col
        << " with linespoints lc " << r + 1 << " dt 1 pt 7 title " << gp_string(name + " test");
    }
    s << "\n";
  };
  panel("loss", 2, 3);
  panel("accuracy", 4, 5);
  s << "unset multiplot\nset output\n";
  return s.str();
}

}  // namespace

std::string find_gnuplot() {
  const char* path_env = std::getenv("PATH");
  std::string paths = path_env ? path_env : "/usr/bin:/bin";
  std::stringstream ss(paths);
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

void plot_runs(const std::vector<std::pair<std::string, RunMetrics>>& runs, const std::string& path) {
  std::string gnuplot = find_gnuplot();
  if (gnuplot.empty()) throw std::runtime_error(gnuplot_missing_message());
  if (runs.empty()) throw std::runtime_error("plot: no runs to draw");
  for (const auto& run : runs)
    if (run.second.epochs.empty())
      throw std::runtime_error("plot: run '" + run.first + "' has no epochs to draw");

  std::filesystem::path script = std::filesystem::temp_directory_path() /
                                 ("qtrain_plot_" + std::to_string(::getpid()) + ".gp");
  {
    std::ofstream out(script);
    out << make_script(runs, path);
    if (!out) throw std::runtime_error("plot: cannot write " + script.string());
  }
  std::string command = shell_word(gnuplot) + " " + shell_word(script.string()) + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("plot: cannot run " + gnuplot);
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  int status = ::pclose(pipe);
  std::error_code ec;
  std::filesystem::remove(script, ec);
  if (status != 0 || !std::filesystem::exists(path))
    throw std::runtime_error("plot: gnuplot failed to draw " + path + ": " + output);
}

}  // namespace qtrain
