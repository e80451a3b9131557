// gnuplot driver: writes a script with inline data blocks and runs it.
#include "examples/qtrain/plot.h"

#include <cmath>
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
  // A panel whose every point is NaN or infinite (a diverged run's losses) would stop gnuplot
  // ("all points y value undefined"), and the other panel with it: it is drawn empty instead.
  auto panel = [&](const char* title, int train_col, int test_col, bool any_finite) {
    if (!any_finite) s << "set yrange [0:1]\nset label 1 'no finite " << title << " to draw' at graph 0.5, 0.5 center\n";
    s << "set title '" << title << "'\nplot ";
    for (size_t r = 0; r < runs.size(); ++r) {
      const std::string& name = runs[r].first;
      if (r) s << ", ";
      s << "$run" << r << " using 1:" << train_col << " with linespoints lc " << r + 1
        << " dt 2 pt 6 title " << qtorch::examples::gnuplot_string(name + " train") << ", $run" << r << " using 1:" << test_col
        << " with linespoints lc " << r + 1 << " dt 1 pt 7 title " << qtorch::examples::gnuplot_string(name + " test");
    }
    s << "\n";
    if (!any_finite) s << "unset label 1\nset autoscale y\n";
  };
  bool finite_loss = false;
  for (const auto& run : runs)
    for (const EpochRecord& e : run.second.epochs)
      finite_loss = finite_loss || std::isfinite(e.train_loss) || std::isfinite(e.test_loss);
  panel("loss", 2, 3, finite_loss);
  panel("accuracy", 4, 5, true);
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
  if (runs.empty()) throw std::runtime_error("--plot: no runs to draw");
  for (const auto& run : runs)
    if (run.second.epochs.empty())
      throw std::runtime_error("--plot: run '" + run.first + "' has no epochs to draw");
  qtorch::examples::run_gnuplot(terminal_for(path), plot_commands(runs), path, "--plot", "qtrain_plot");
}

}  // namespace qtrain
