// Checkpoints: one versioned binary file with a CRC32 checksum holding a model's state
// dict, optimizer state (momentum, Adam moments, OptimLP accumulators, step counts), loss
// scale, schedule epoch, SWA average and the global generator's state. Writes are atomic;
// loading validates everything before changing anything.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "nn/module.h"

namespace qtorch::optim {

class Optimizer;
class LossScaler;
class LRScheduler;
class SWA;

/// The raw content of a checkpoint file: named tensors, doubles and 64-bit integers.
struct CheckpointData {
  nn::StateDict tensors;
  std::map<std::string, double> scalars;
  std::map<std::string, int64_t> integers;
};

/// Writes `data` to `path` atomically: a temporary file beside it, flushed and fsynced,
/// then renamed over `path`. Throws qtorch::Error on I/O failure (path unchanged).
void write_checkpoint(const std::string& path, const CheckpointData& data);
/// Reads and verifies a checkpoint (magic, version, size, checksum, structure); throws
/// qtorch::Error naming the problem for a missing, truncated, corrupt or foreign file.
CheckpointData read_checkpoint(const std::string& path);

/// What to save or restore; null members are skipped. Tensors may live on any device.
struct TrainingState {
  nn::Module* model = nullptr;
  Optimizer* optimizer = nullptr;
  LossScaler* scaler = nullptr;
  LRScheduler* scheduler = nullptr;
  SWA* swa = nullptr;
  /// The caller's own counter (e.g. the global step or epoch).
  int64_t* step = nullptr;
  /// The global generator's seed and offset (needed for bit-identical resumption with
  /// dropout or stochastic rounding).
  bool rng = true;
};

void save_checkpoint(const std::string& path, const TrainingState& state);
/// Restores every non-null member of `state` from the file. All parts are checked (file
/// integrity, names, shapes, presence) before any is changed, so an error leaves the
/// model, optimizer and the rest untouched.
void load_checkpoint(const std::string& path, const TrainingState& state);

}  // namespace qtorch::optim
