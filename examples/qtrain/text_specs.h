// The small text syntaxes of --schedule (constant, cosine, step:EVERY:GAMMA) and
// --loss-scale (static:S, dynamic), parsed into plain structs.
#pragma once

#include <cstdint>
#include <string>

namespace qtrain {

struct ScheduleSpec {
  enum Kind { Constant, Cosine, Step } kind = Constant;
  int64_t step_every = 0;  ///< epochs between decays (Step)
  double gamma = 1.0;      ///< decay factor (Step)
};

/// The largest EVERY of step:EVERY:GAMMA (qtrain's largest --epochs).
inline constexpr int64_t kMaxStepEvery = 1'000'000;

/// Throws std::invalid_argument naming --schedule.
ScheduleSpec parse_schedule(const std::string& text);

struct LossScaleSpec {
  enum Kind { None, Static, Dynamic } kind = None;
  double scale = 1.0;  ///< Static: the factor; Dynamic: the initial factor
};

/// "" gives None. Throws std::invalid_argument naming --loss-scale.
LossScaleSpec parse_loss_scale(const std::string& text);

}  // namespace qtrain
