// gnuplot driver: writes a script with inline data blocks and runs it.
#include "examples/qtrain/plot.h"

#include <filesystem>
#include <sstream>
#include <stdexcept>

namespace qtrain {
namespace {

// The gnuplot terminal for the file's extension (.svg or .png).
std::string terminal_for(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".svg") return "set terminal svg size 1100,500 dynamic noenhanced background rgb 'white'";
  if (ext == ".png") return "set terminal pngcairo size 1100,500 noenhanced";
  throw std::invalid_argument("--plot: expected a file name ending in .png or .svg, got '" + path + "'");
}

// The data blocks and plot commands (everything after `set output`).
std::string plot_commands(const std::vector<std::pair<std::string, RunMetrics>>& runs) {
  std::ostringstream s;
  s.precision(8);
  for (size_t r = 0; r < runs.size(); ++r) {
    s << "$run" << r << " << EOD\n";
    for (const EpochRecord& e : runs[r].second.epochs)
      s << e.epoch << ' ' << e.train_loss << ' ' << e.test_loss << ' ' << e.train_accuracy << ' '
        << e.test_accuracy << '\n';
    s << "EOD\n";
  }
  s << "set multiplot layout 1,2\n"
    << "set grid\nset key outside bottom center horizontal\nset xlabel 'epoch'\n"
    << "set xtics 1\nset mxtics 1\nset offsets 0.1, 0.1, 0, 0\n";
  auto panel = [&](const char* title, int train_col, int test_col) {
    s << "set title '" << title << "'\nplot ";
    for (size_t r = 0; r < runs.size(); ++r) {
      const std::string& name = runs[r].first;
      if (r) s << ", ";
      s << "$run" << r << " using 1:" << train_col << " with linespoints lc " << r + 1
        << " dt 2 pt 6 title " << qtorch::examples::gnuplot_string(name + " train") << ", $run" << r << " using 1:" << test_col
        << " with linespoints lc " << r + 1 << " dt 1 pt 7 title " << qtorch::examples::gnuplot_string(name + " test");
    }
    s << "\n";
  };
  panel("loss", 2, 3);
  panel("accuracy", 4, 5);
  s << "unset multiplot\n";
  return s.str();
}

}  // namespace

void check_plot_path(const std::string& path) {
  terminal_for(path);
  qtorch::examples::check_gnuplot_text("--plot", path);
}

void plot_runs(const std::vector<std::pair<std::string, RunMetrics>>& runs, const std::string& path) {
  check_plot_path(path);
  if (runs.empty()) throw std::runtime_error("plot: no runs to draw");
  for (const auto& run : runs)
    if (run.second.epochs.empty())
      throw std::runtime_error("plot: run '" + run.first + "' has no epochs to draw");
  qtorch::examples::run_gnuplot(terminal_for(path), plot_commands(runs), path, "--plot", "qtrain_plot");
}

}  // namespace qtrain
