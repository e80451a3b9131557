// The metrics of one run: configuration, one record per epoch and a final record, kept in
// memory, written as JSON atomically after every epoch, and read back for --compare.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "examples/qtrain/config.h"

namespace qtrain {

struct EpochRecord {
  int64_t epoch = 0;  ///< from 1
  double train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = 0;
  double seconds = 0, samples_per_second = 0, lr = 0;
  /// Share of weight elements that an optimizer step changed: the mean over the steps
  /// sampled in the epoch (train::TrainerOptions::update_fraction_samples).
  std::optional<double> update_fraction{};
  /// Share of the error quantizers' elements (the gradients flowing back through the
  /// layer quantizers) that were nonzero and became zero, and share clipped or saturated
  /// at the format's range. Absent when errors are not quantized.
  std::optional<double> flush_fraction{}, saturation_fraction{};
  /// The dynamic loss scale at the end of the epoch.
  std::optional<double> loss_scale{};
  /// With a loss scaler: the steps it skipped (overflow) in the run so far.
  std::optional<double> skipped_steps{};
  /// Data-parallel: bytes each process sent per step (its gradient message).
  std::optional<double> comm_bytes_per_step{};
};

struct FinalRecord {
  double test_accuracy = 0, test_loss = 0, total_seconds = 0, peak_rss_mb = 0;
  std::optional<double> swa_test_accuracy{};
};

struct RunMetrics {
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  std::vector<EpochRecord> epochs;
  std::optional<FinalRecord> final;
};

/// Every option of the run, as written under "config".
nlohmann::ordered_json config_to_json(const Config& config);

nlohmann::ordered_json to_json(const RunMetrics& metrics);
/// Parses a metrics file; throws std::runtime_error naming the file and the problem.
RunMetrics read_metrics(const std::string& path);
/// Writes `value` to `path` through a temporary file in the same folder and a rename,
/// so readers never see a half-written file. Throws std::runtime_error on failure.
void write_json_atomically(const std::string& path, const nlohmann::ordered_json& value);

}  // namespace qtrain
