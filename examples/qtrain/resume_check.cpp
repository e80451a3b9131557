// Recording and comparing the identity of a run in its checkpoints.
#include "examples/qtrain/resume_check.h"

#include <charconv>
#include <stdexcept>
#include <utility>
#include <vector>

namespace qtrain {
namespace {

const char* const kModel = "qtrain/model";
const char* const kPreset = "qtrain/preset";
const char* const kQuantizeAfter = "qtrain/quantize_after";

using qtorch::train::kRoles;
using qtorch::train::role_name;

// "qtrain/format/weight" and so on.
std::string format_key(Role role) { return std::string("qtrain/format/") + role_name(role); }

// "block:8:-1 stochastic": the format and rounding of one role.
std::string format_text(const Config& config, Role role) {
  return qtorch::number_text(config.recipe[role].number) + " " + qtorch::rounding_name(config.recipe[role].rounding);
}

std::string quantize_after(const Config& config) { return qtorch::train::layer_kinds_text(config.recipe.quantize_after); }

// The shortest text that reads back as exactly v.
std::string exact(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

// The training options a resumed run must share with the run that wrote the checkpoint:
// {command-line option, its value}. A resumed run that took another learning rate, seed,
// batch size, data, schedule or evaluation stream would be no continuation of that run (its
// --threads, --limit-test, outputs and a larger --epochs may change, except under the cosine
// schedule, whose length --epochs is).
std::vector<std::pair<std::string, std::string>> training_options(const Config& c) {
  std::vector<std::pair<std::string, std::string>> options = {
          {"--optimizer", c.optimizer},
          {"--lr", exact(c.lr)},
          {"--momentum", exact(c.momentum)},
          {"--weight-decay", exact(c.weight_decay)},
          {"--schedule", c.schedule},
          {"--seed", std::to_string(c.seed)},
          {"--batch-size", std::to_string(c.batch_size)},
          {"--limit-train", c.limit_train < 0 ? "all" : std::to_string(c.limit_train)},
          {"--normalize", c.normalize ? "on" : "off"},
          {"--swa-start", c.swa_start < 0 ? "off" : std::to_string(c.swa_start)},
          {"--isolated-evaluation", c.isolated_evaluation ? "on" : "off"}};
  if (c.schedule == "cosine")
    options.emplace_back("--epochs", std::to_string(c.epochs) + " (the cosine schedule's length)");
  return options;
}

std::string option_key(const std::string& option) { return "qtrain/option/" + option.substr(2); }

std::string text_or(const qtorch::optim::CheckpointData& checkpoint, const char* key, const std::string& none) {
  auto it = checkpoint.texts.find(key);
  return it == checkpoint.texts.end() ? none : it->second;
}

}  // namespace

std::map<std::string, std::string> run_identity(const Config& config) {
  std::map<std::string, std::string> identity = {
      {kModel, config.model}, {kPreset, config.preset}, {kQuantizeAfter, quantize_after(config)}};
  for (Role r : kRoles) identity[format_key(r)] = format_text(config, r);
  for (const auto& [option, value] : training_options(config)) identity[option_key(option)] = value;
  return identity;
}

void check_resumable(const qtorch::optim::CheckpointData& checkpoint, const Config& config,
                     std::string* warning) {
  const std::string file = "--resume: " + config.resume_path;
  if (!checkpoint.texts.count(kModel)) {
    if (warning)
      *warning = file + " records no model or number formats (written by an older qtrain), so they "
                        "are not checked against this run";
  } else {
    const std::string model = text_or(checkpoint, kModel, "?"), preset = text_or(checkpoint, kPreset, "?");
    std::string then_formats, now_formats;  // the roles whose format or rounding differ
    for (Role r : kRoles) {
      const std::string then = text_or(checkpoint, format_key(r).c_str(), "none");
      if (then == format_text(config, r)) continue;
      then_formats += std::string(then_formats.empty() ? "" : ", ") + role_name(r) + " " + then;
      now_formats += std::string(now_formats.empty() ? "" : ", ") + role_name(r) + " " + format_text(config, r);
    }
    if (model != config.model || !then_formats.empty()) {
      std::string then = "--preset " + preset, now = "--preset " + config.preset;
      if (preset == config.preset && !then_formats.empty()) {  // other --<role>-format/-rounding flags
        then += " with " + then_formats;
        now += " with " + now_formats;
      }
      then += " (model " + model + ")";
      if (model != config.model) now += " (model " + config.model + ")";
      throw std::invalid_argument(file + " was trained with " + then + ", this run uses " + now);
    }
  }
  // Checkpoints from before --quantize-after were trained with its default.
  const std::string after = text_or(checkpoint, kQuantizeAfter, "linear,conv,normalization");
  if (checkpoint.texts.count(kModel) && after != quantize_after(config))
    throw std::invalid_argument(file + " was trained with --quantize-after " + after +
                                ", this run uses --quantize-after " + quantize_after(config));
  // Checkpoints of an older qtrain record none of these: they are not checked.
  std::string then_options, now_options;
  for (const auto& [option, value] : training_options(config)) {
    auto it = checkpoint.texts.find(option_key(option));
    if (it == checkpoint.texts.end() || it->second == value) continue;
    then_options += " " + option + " " + it->second;
    now_options += " " + option + " " + value;
  }
  if (!then_options.empty())
    throw std::invalid_argument(file + " was trained with" + then_options + ", this run gives" + now_options +
                                ": a resumed run continues with the options it was trained with");
  auto step = checkpoint.integers.find("step");
  if (step == checkpoint.integers.end())
    throw std::invalid_argument(file + ": expected an entry 'step' (the epochs done), got none");
  if (step->second < 0)
    throw std::invalid_argument(file + ": entry 'step': expected an epoch >= 0, got " +
                                std::to_string(step->second));
  if (step->second > config.epochs)
    throw std::invalid_argument(file + " is at epoch " + std::to_string(step->second) + ", beyond --epochs " +
                                std::to_string(config.epochs));
}

}  // namespace qtrain
