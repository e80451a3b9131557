// The training run of qtrain: sets everything up from a Config (rejecting bad options and
// missing data before any training), trains epoch by epoch with progress, metrics,
// checkpoints and SWA, then reports and plots.
#pragma once

#include <string>

#include "examples/qtrain/config.h"
#include "examples/qtrain/metrics.h"

namespace qtrain {

/// Exit code of a run whose options or inputs were rejected before training.
inline constexpr int kBadInput = 2;
/// Exit code of a run stopped because training diverged (--stop-on-nan).
inline constexpr int kDiverged = 3;

/// Runs the configured training; returns the process exit code (0 on success, kBadInput
/// for bad options or data, 1 for a failure during training). Prints errors as one line
/// "qtrain: error: ..." on stderr.
/// `metrics`, when not null, receives the run's metrics (also on failure: what was done);
/// `error`, when not null, the printed error's message on failure.
int run_training(const Config& config, RunMetrics* metrics = nullptr, std::string* error = nullptr);

}  // namespace qtrain
