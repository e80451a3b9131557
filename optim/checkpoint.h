// Checkpoints: one versioned binary file with a CRC32 checksum holding a model's state
// dict, optimizer state (momentum, Adam moments, OptimLP accumulators, step counts), loss
// scale, schedule epoch, SWA average and the global generator's state. Writes are atomic;
// loading validates everything before changing anything.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "qtorch/nn/module.h"

namespace qtorch::optim {

class Optimizer;
class LossScaler;
class LRScheduler;
class SWA;

/// The raw content of a checkpoint file: named tensors, doubles, 64-bit integers and texts.
struct CheckpointData {
  nn::StateDict tensors;
  std::map<std::string, double> scalars;
  std::map<std::string, int64_t> integers;
  std::map<std::string, std::string> texts;
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
  /// Texts saved with the state as they are (e.g. what produced it, to be compared before
  /// resuming); load_checkpoint ignores them: read them with read_checkpoint.
  const std::map<std::string, std::string>* texts = nullptr;
};

/// What save_checkpoint writes for `state`.
CheckpointData checkpoint_data(const TrainingState& state);
/// The first tensor entry under model/, optim/ or swa/ holding a NaN or an infinity (what
/// load_checkpoint refuses), or "" when there is none.
std::string first_non_finite_entry(const CheckpointData& data);
/// Writes checkpoint_data(state) to `path` atomically. Refuses (qtorch::Error, `path`
/// untouched) a state with a NaN or infinite tensor, which load_checkpoint would refuse: a
/// checkpoint that could not be resumed must not replace the last one that can.
void save_checkpoint(const std::string& path, const TrainingState& state);
/// Restores every non-null member of `state` from the file. All parts are checked (file
/// integrity, names, shapes, presence, and values: finite tensors, counts >= 0, a finite
/// loss scale > 0) before any is changed, so an error leaves the model, optimizer and the
/// rest untouched. Errors name the file and the entry.
void load_checkpoint(const std::string& path, const TrainingState& state);
/// load_checkpoint for content already read from `path` with read_checkpoint (for callers
/// that check entries of their own first).
void restore_checkpoint(const CheckpointData& data, const std::string& path, const TrainingState& state);

}  // namespace qtorch::optim
