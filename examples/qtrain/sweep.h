// qtrain --sweep FILE: many independent training runs, one per line of FILE, spread over
// the processes of an MPI launch (line i on rank i mod N) and gathered into one report.
#pragma once

#include <string>
#include <vector>

#include "examples/qtrain/config.h"

namespace qtrain {

/// One run of a sweep: its line number in the file (from 1), its options, and what they parse to.
struct SweepLine {
  size_t number = 0;
  std::string options;
  Config config{};
};

/// The runs of a sweep file: each line holds qtrain options separated by spaces; blank
/// lines and lines starting with '#' are skipped. Every line is parsed here, before any
/// run: throws std::invalid_argument naming the file when it cannot be read, holds no run,
/// or holds lines that are no run (bad options, --sweep, --compare, or communication
/// options), each of those named by its line number.
std::vector<SweepLine> read_sweep(const std::string& path);

/// Runs the sweep of `config.sweep_path` on this process's share of the lines, gathers
/// every run's result on every rank, prints the table (rank 0) and writes the JSON of all
/// runs to config.metrics_path (rank 0). A file with a line that is no run is refused
/// before any run (exit status 2). A run that fails (diverged, an error while it runs) is
/// reported with its exit status and message. Returns 0 when every run succeeded, 1
/// otherwise (on rank 0; the other ranks return 0).
int run_sweep(const Config& config);

}  // namespace qtrain
