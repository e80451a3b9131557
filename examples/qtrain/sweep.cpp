// The sweep: independent qtrain runs spread over the ranks, results gathered as JSON.
#include "examples/qtrain/sweep.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "examples/qtrain/cli.h"
#include "examples/qtrain/metrics.h"
#include "examples/qtrain/trainer.h"
#include "qtorch/core/threads.h"
#include "qtorch/dist/communicator.h"
#include "qtorch/train/recipe.h"

namespace qtrain {
namespace {

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// The Config of one line's options, or the reason the line is no run this sweep can make.
std::string parse_line(const std::string& line, Config& config) {
  std::vector<std::string> args = {"qtrain"};
  for (const std::string& w : words(line)) args.push_back(w);
  args.push_back("--no-progress");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string error;
  if (std::optional<int> status = parse_command_line(static_cast<int>(args.size()), argv.data(), config, &error))
    return error.empty() ? "not a training run (--help?)" : error;  // a bad option, or --help
  if (!config.sweep_path.empty()) return "--sweep inside a sweep";
  if (!config.compare.empty()) return "--compare: compares metrics files, which is no training run (run it alone)";
  if (config.recipe.comm != qtorch::train::preset(config.preset).comm || config.recipe.comm_error_feedback)
    return "--comm-format, --comm-rounding, --comm-error-feedback: a sweep's run trains in one process, which sends "
           "no gradients (remove them from the line)";
  config.data_parallel = false;
  return "";
}

// One run of the sweep as JSON: its line, rank, exit status, and metrics or error.
nlohmann::ordered_json run_line(size_t index, const SweepLine& line, int rank) {
  nlohmann::ordered_json result = {{"run", index}, {"line", line.number}, {"options", line.options}, {"rank", rank}};
  Config config = line.config;  // parsed and checked by read_sweep
  RunMetrics metrics;
  int status = 1;
  std::string error;
  const int threads = qtorch::get_num_threads();  // a line's --threads is its own, not the next line's
  try {
    status = run_training(config, &metrics, &error);
  } catch (const std::exception& e) {
    error = e.what();
  }
  qtorch::set_num_threads(threads);
  result["status"] = status;
  if (status != 0) result["error"] = error.empty() ? "exit status " + std::to_string(status) : error;
  result["metrics"] = to_json(metrics);
  return result;
}

}  // namespace

std::vector<SweepLine> read_sweep(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("--sweep: cannot read '" + path + "'");
  std::vector<SweepLine> lines;
  std::string errors;
  size_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    const size_t start = line.find_first_not_of(" \t\r");
    if (start == std::string::npos || line[start] == '#') continue;
    SweepLine run{number, line.substr(start)};
    if (const std::string error = parse_line(run.options, run.config); !error.empty())
      errors += "\n  line " + std::to_string(number) + ": " + error;
    lines.push_back(std::move(run));
  }
  if (!errors.empty())
    throw std::invalid_argument("--sweep: '" + path + "' holds lines that are no run, so nothing was run:" + errors);
  if (lines.empty()) throw std::invalid_argument("--sweep: '" + path + "' holds no run (one line of options per run)");
  return lines;
}

int run_sweep(const Config& config) {
  std::vector<SweepLine> lines;
  try {
    lines = read_sweep(config.sweep_path);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "qtrain: error: %s\n", e.what());
    return kBadInput;
  }
  std::shared_ptr<qtorch::dist::Communicator> world = qtorch::dist::world();
  const int rank = world->rank(), ranks = world->size();
  std::printf("qtrain: sweep of %zu runs from %s over %d process%s\n", lines.size(), config.sweep_path.c_str(), ranks,
              ranks == 1 ? "" : "es");
  std::fflush(stdout);
  nlohmann::ordered_json mine = nlohmann::ordered_json::array();
  for (size_t i = static_cast<size_t>(rank); i < lines.size(); i += static_cast<size_t>(ranks))
    mine.push_back(run_line(i, lines[i], rank));
  // A line's bytes that are not UTF-8 become U+FFFD rather than an exception on one rank.
  const std::string text = mine.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  const std::vector<std::vector<uint8_t>> all = world->all_gather(std::vector<uint8_t>(text.begin(), text.end()));
  std::vector<nlohmann::ordered_json> runs(lines.size());
  for (const std::vector<uint8_t>& part : all)
    for (const auto& run : nlohmann::ordered_json::parse(std::string(part.begin(), part.end())))
      runs[run["run"].get<size_t>()] = run;
  int failed = 0;
  std::printf("\n%-5s %-5s %-7s %-9s %-8s %s\n", "line", "rank", "status", "test acc", "seconds", "options");
  for (const auto& run : runs) {
    const bool ok = run["status"].get<int>() == 0;
    failed += ok ? 0 : 1;
    double acc = 0, seconds = 0;
    if (ok && run.contains("metrics") && run["metrics"].contains("final")) {
      acc = run["metrics"]["final"]["test_accuracy"].get<double>();
      seconds = run["metrics"]["final"]["total_seconds"].get<double>();
    }
    std::printf("%-5zu %-5d %-7s %-9s %-8s %s%s\n", run["line"].get<size_t>(), run["rank"].get<int>(),
                ok ? "ok" : "FAILED", ok ? fmt::format("{:.4f}", acc).c_str() : "-", ok ? fmt::format("{:.1f}", seconds).c_str() : "-",
                run["options"].get<std::string>().c_str(), ok ? "" : ("  (" + run["error"].get<std::string>() + ")").c_str());
  }
  std::printf("%zu runs, %d failed\n", runs.size(), failed);
  if (!config.metrics_path.empty()) {
    nlohmann::ordered_json out = {{"sweep", config.sweep_path}, {"processes", ranks}, {"runs", runs}};
    write_json_atomically(config.metrics_path, out);
    std::printf("metrics: %s\n", config.metrics_path.c_str());
  }
  std::fflush(stdout);
  // Rank 0 carries the status: a non-zero exit of another rank would make mpirun stop rank
  // 0 before it has written everything.
  return failed == 0 || rank != 0 ? 0 : 1;
}

}  // namespace qtrain
