// A Google Benchmark reporter that, after the usual console output, prints each
// benchmark's speed as a ratio of its group's baseline measured in the same run.
// Name benchmarks "group/variant"; the variant called "baseline" is the reference.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace qtorch::bench {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      std::string name = run.benchmark_name();
      auto slash = name.find('/');
      if (slash == std::string::npos) continue;
      std::string group = name.substr(0, slash), variant = name.substr(slash + 1);
      double seconds = run.GetAdjustedRealTime();
      results_[group].push_back({variant, seconds});
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-40s %-28s %12s %s\n", "group", "variant", "time", "share of baseline speed");
    for (const auto& [group, rows] : results_) {
      double base = 0;
      for (const auto& r : rows) {
        if (r.variant == "baseline") base = r.seconds;
      }
      for (const auto& r : rows) {
        if (base > 0) {
          std::printf("%-40s %-28s %12.4g %.3f\n", group.c_str(), r.variant.c_str(), r.seconds, base / r.seconds);
        } else {
          std::printf("%-40s %-28s %12.4g (no baseline)\n", group.c_str(), r.variant.c_str(), r.seconds);
        }
      }
    }
  }

 private:
  struct Row {
    std::string variant;
    double seconds;
  };
  std::map<std::string, std::vector<Row>> results_;
};

/// Runs the registered benchmarks with the ratio table. `prepare` runs after argument
/// parsing; it registers run-time benchmarks and returns false when there is nothing to run
/// here (it says why), which is a success.
inline int run_with_ratios(int argc, char** argv, const std::function<bool()>& prepare = [] { return true; }) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!prepare()) return 0;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}

}  // namespace qtorch::bench

/// Use instead of BENCHMARK_MAIN() to get the ratio table.
#define QTORCH_BENCHMARK_MAIN() \
  int main(int argc, char** argv) { return qtorch::bench::run_with_ratios(argc, argv); }
