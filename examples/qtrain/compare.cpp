// Comparing finished runs.
#include "examples/qtrain/compare.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "examples/qtrain/metrics.h"
#include "examples/qtrain/plot.h"

namespace qtrain {

int run_compare(const Config& cfg) {
  std::vector<std::pair<std::string, RunMetrics>> runs;
  try {
    if (!cfg.plot_path.empty()) check_plot_path(cfg.plot_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qtrain: error: %s\n", e.what());
    return 2;
  }
  try {
    for (const std::string& path : cfg.compare) {
      // Label runs by file name; fall back to the path when two files share a name.
      std::string label = std::filesystem::path(path).stem().string();
      for (const auto& r : runs)
        if (r.first == label) label = path;
      // The labels go into the gnuplot script as plot titles.
      if (!cfg.plot_path.empty()) qtorch::examples::check_gnuplot_text("a file name used as a plot label", label);
      runs.emplace_back(label, read_metrics(path));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qtrain: error: --compare: %s\n", e.what());
    return 2;
  }
  std::printf("%-24s %8s %10s %10s %10s %10s %10s\n", "run", "epochs", "test acc", "best acc",
              "test loss", "s/epoch", "peak MB");
  // A figure the file does not hold is shown as "-".
  auto shown = [](std::optional<double> v, const char* format) {
    return v ? fmt::format(fmt::runtime(format), *v) : std::string("-");
  };
  for (const auto& [label, m] : runs) {
    // The last test figures: the last epoch's, or the final record's (an --epochs 0 run).
    std::optional<double> test_accuracy, best, test_loss, seconds_per_epoch, peak;
    if (!m.epochs.empty()) {
      double seconds = 0;
      best = 0.0;
      for (const EpochRecord& e : m.epochs) {
        best = std::max(*best, e.test_accuracy);
        seconds += e.seconds;
      }
      test_accuracy = m.epochs.back().test_accuracy;
      test_loss = m.epochs.back().test_loss;
      seconds_per_epoch = seconds / static_cast<double>(m.epochs.size());
    } else if (m.final) {
      test_accuracy = best = m.final->test_accuracy;
      test_loss = m.final->test_loss;
    }
    if (m.final) peak = m.final->peak_rss_mb;
    std::printf("%-24s %8zu %10s %10s %10s %10s %10s\n", label.c_str(), m.epochs.size(),
                shown(test_accuracy, "{:.4f}").c_str(), shown(best, "{:.4f}").c_str(), shown(test_loss, "{:.4f}").c_str(),
                shown(seconds_per_epoch, "{:.2f}").c_str(), shown(peak, "{:.0f}").c_str());
  }
  if (cfg.plot_path.empty()) {
    std::printf("(add --plot FILE.png or FILE.svg to draw these runs together)\n");
    return 0;
  }
  try {
    plot_runs(runs, cfg.plot_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qtrain: error: %s\n", e.what());
    return 1;
  }
  std::printf("plot: %s\n", cfg.plot_path.c_str());
  return 0;
}

}  // namespace qtrain
