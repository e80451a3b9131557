// Comparing finished runs.
#include "examples/qtrain/compare.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

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
  for (const auto& [label, m] : runs) {
    double best = 0, seconds = 0;
    for (const EpochRecord& e : m.epochs) {
      best = std::max(best, e.test_accuracy);
      seconds += e.seconds;
    }
    const EpochRecord* last = m.epochs.empty() ? nullptr : &m.epochs.back();
    std::printf("%-24s %8zu %10.4f %10.4f %10.4f %10.2f %10.0f\n", label.c_str(), m.epochs.size(),
                last ? last->test_accuracy : 0.0, best, last ? last->test_loss : 0.0,
                m.epochs.empty() ? 0.0 : seconds / m.epochs.size(), m.final ? m.final->peak_rss_mb : 0.0);
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
