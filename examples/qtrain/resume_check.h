// What qtrain records in a checkpoint about the run that wrote it (model, preset, the
// format and rounding of every role), and the checks made before resuming from one: same
// model and formats, and an epoch that this run's --epochs can continue from.
#pragma once

#include <map>
#include <string>

#include "examples/qtrain/config.h"
#include "qtorch/optim/checkpoint.h"

namespace qtrain {

/// The checkpoint texts describing the run: "qtrain/model", "qtrain/preset",
/// "qtrain/format/<role>" ("block:8:-1 stochastic") for every role, and
/// "qtrain/option/<name>" for the training options a resumed run must keep (lr, momentum,
/// weight-decay, optimizer, schedule, seed, batch-size, limit-train, normalize, swa-start).
std::map<std::string, std::string> run_identity(const Config& config);

/// Throws std::invalid_argument naming --resume and the file when `checkpoint` (read from
/// config.resume_path) cannot continue this run: written with another model, other number
/// formats or other training options (naming each option with both values), or at an epoch
/// ("step") outside [0, --epochs]. A checkpoint of an older
/// qtrain that records no identity is accepted (its model and formats cannot be checked;
/// a mismatch then shows as a shape error, or not at all); `warning` is then set.
void check_resumable(const qtorch::optim::CheckpointData& checkpoint, const Config& config,
                     std::string* warning);

}  // namespace qtrain
