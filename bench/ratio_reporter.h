// A Google Benchmark reporter that, after the usual console output, prints each
// benchmark's speed as a ratio of its group's baseline measured in the same run.
// Name benchmarks "group/variant"; the variant called "baseline" is the reference.
// With repetitions, each variant's fastest repetition counts: on a shared machine the
// slow ones measure the neighbours. Where a variant moves other bytes per iteration than its
// baseline (the kBytesPerIteration counter), its share of the baseline's bytes/s follows in
// brackets. run_with_ratios asks for 5 repetitions, randomly
// interleaved, unless the command line says otherwise.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace qtorch::bench {

/// The counter a benchmark sets to the bytes one iteration moves, when its variants move
/// different amounts.
inline constexpr const char* kBytesPerIteration = "bytes_per_iteration";

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      std::string name = run.benchmark_name();
      auto slash = name.find('/');
      if (slash == std::string::npos) continue;
      // "group/variant", perhaps followed by "/manual_time" and the like.
      const auto variant_end = name.find('/', slash + 1);
      std::string group = name.substr(0, slash);
      std::string variant = name.substr(slash + 1, variant_end == std::string::npos ? std::string::npos : variant_end - slash - 1);
      double seconds = run.GetAdjustedRealTime();
      const auto bytes = run.counters.find(kBytesPerIteration);
      const double bytes_per_iteration = bytes == run.counters.end() ? 0.0 : bytes->second.value;
      std::vector<Row>& rows = results_[group];
      auto same = std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r.variant == variant; });
      if (same == rows.end()) {
        rows.push_back({variant, seconds, 1, bytes_per_iteration});
      } else {
        same->seconds = std::min(same->seconds, seconds);
        ++same->runs;
      }
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-40s %-28s %12s %5s %s\n", "group", "variant", "fastest", "runs",
                "share of baseline speed [share of its bytes/s, where the two move different bytes]");
    for (auto& [group, rows] : results_) {
      // Baseline first, then by name (interleaved runs arrive in random order).
      std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        return std::make_pair(a.variant != "baseline", a.variant) < std::make_pair(b.variant != "baseline", b.variant);
      });
      double base = 0, base_bytes = 0;
      for (const auto& r : rows) {
        if (r.variant == "baseline") base = r.seconds, base_bytes = r.bytes_per_iteration;
      }
      for (const auto& r : rows) {
        // A variant that moves other bytes than the baseline (a quantizer that also writes its
        // clamp mask) gets its bytes/s beside the baseline's too.
        const bool other_bytes = base_bytes > 0 && r.bytes_per_iteration > 0 && r.bytes_per_iteration != base_bytes;
        const double bytes_share = other_bytes ? (r.bytes_per_iteration / base_bytes) * (base / r.seconds) : 0.0;
        if (base > 0 && other_bytes) {
          std::printf("%-40s %-28s %12.4g %5d %.3f [%.3f]\n", group.c_str(), r.variant.c_str(), r.seconds, r.runs,
                      base / r.seconds, bytes_share);
        } else if (base > 0) {
          std::printf("%-40s %-28s %12.4g %5d %.3f\n", group.c_str(), r.variant.c_str(), r.seconds, r.runs,
                      base / r.seconds);
        } else {
          std::printf("%-40s %-28s %12.4g %5d (no baseline)\n", group.c_str(), r.variant.c_str(), r.seconds,
                      r.runs);
        }
      }
    }
  }

 private:
  struct Row {
    std::string variant;
    double seconds;  // the fastest repetition
    int runs;
    double bytes_per_iteration = 0;  // the kBytesPerIteration counter (0: none)
  };
  std::map<std::string, std::vector<Row>> results_;
};

/// Runs the registered benchmarks with the ratio table. `prepare` runs after argument
/// parsing; it registers run-time benchmarks and returns false when there is nothing to run
/// here (it says why), which is a success.
inline int run_with_ratios(int argc, char** argv, const std::function<bool()>& prepare = [] { return true; }) {
  // Defaults first, so that the user's own flags (parsed later) win.
  std::vector<char*> args(argv, argv + argc);
  std::string repetitions = "--benchmark_repetitions=5";
  std::string interleave = "--benchmark_enable_random_interleaving=true";
  args.insert(args.begin() + 1, {repetitions.data(), interleave.data()});
  args.push_back(nullptr);
  argc = static_cast<int>(args.size()) - 1;
  argv = args.data();
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
