// save_checkpoint / load_checkpoint: map a model, optimizer, loss scaler, schedule, SWA
// average and the generator state to the named entries of one checkpoint file.
#include "qtorch/optim/checkpoint.h"

#include <cmath>
#include <vector>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/optim/loss_scaler.h"
#include "qtorch/optim/optimizer.h"
#include "qtorch/optim/scheduler.h"
#include "qtorch/optim/swa.h"

namespace qtorch::optim {

namespace {

nn::StateDict tensors_under(const CheckpointData& data, const std::string& prefix) {
  nn::StateDict out;
  for (const auto& [k, t] : data.tensors)
    if (k.rfind(prefix, 0) == 0) out.insert(k.substr(prefix.size()), t);
  return out;
}

OptimizerState optimizer_state_of(const CheckpointData& data) {
  OptimizerState out;
  out.tensors = tensors_under(data, "optim/");
  for (const auto& [k, v] : data.scalars)
    if (k.rfind("optim/", 0) == 0) out.scalars[k.substr(6)] = v;
  return out;
}

bool has_section(const CheckpointData& data, const std::string& prefix) {
  for (const auto& [k, t] : data.tensors)
    if (k.rfind(prefix, 0) == 0) return true;
  for (const auto& [k, v] : data.scalars)
    if (k.rfind(prefix, 0) == 0) return true;
  for (const auto& [k, v] : data.integers)
    if (k.rfind(prefix, 0) == 0) return true;
  return false;
}

int64_t integer(const CheckpointData& data, const std::string& key, const std::string& path) {
  auto it = data.integers.find(key);
  QTORCH_CHECK(it != data.integers.end(), "load_checkpoint: expected an entry '{}' in '{}', got none",
               key, path);
  return it->second;
}

// An integer entry that counts something: present and >= 0.
int64_t count(const CheckpointData& data, const std::string& key, const std::string& path) {
  int64_t v = integer(data, key, path);
  QTORCH_CHECK(v >= 0, "load_checkpoint: '{}': entry '{}': expected an integer >= 0, got {}", path, key, v);
  return v;
}

double scalar(const CheckpointData& data, const std::string& key, const std::string& path) {
  auto it = data.scalars.find(key);
  QTORCH_CHECK(it != data.scalars.end(), "load_checkpoint: expected an entry '{}' in '{}', got none",
               key, path);
  return it->second;
}

// Every value of every tensor under `prefix` is finite (a NaN weight would train to NaN).
void check_finite_tensors(const CheckpointData& data, const std::string& prefix, const std::string& path) {
  for (const auto& [k, t] : data.tensors) {
    if (k.rfind(prefix, 0) != 0) continue;
    std::vector<float> values = t.to_vector();
    for (size_t i = 0; i < values.size(); ++i)
      QTORCH_CHECK(std::isfinite(values[i]),
                   "load_checkpoint: '{}': entry '{}': expected finite values, got {} at index {}", path, k,
                   values[i], i);
  }
}

// The optimizer's numbers: finite, and its step counts ("step_count", "<i>.step") whole
// numbers in [0, 2^53] (they are converted back to integers).
void check_optimizer_scalars(const CheckpointData& data, const std::string& path) {
  for (const auto& [k, v] : data.scalars) {
    if (k.rfind("optim/", 0) != 0) continue;
    QTORCH_CHECK(std::isfinite(v), "load_checkpoint: '{}': entry '{}': expected a finite number, got {}", path,
                 k, v);
    const bool is_count = k.ends_with("step_count") || k.ends_with(".step");
    QTORCH_CHECK(!is_count || is_step_count(v),
                 "load_checkpoint: '{}': entry '{}': expected a whole number >= 0, got {}", path, k, v);
  }
}

}  // namespace

CheckpointData checkpoint_data(const TrainingState& state) {
  CheckpointData data;
  if (state.model)
    for (const auto& [k, t] : state.model->state_dict()) data.tensors.insert("model/" + k, t);
  if (state.optimizer) {
    OptimizerState os = state.optimizer->state_dict();
    for (const auto& [k, t] : os.tensors) data.tensors.insert("optim/" + k, t);
    for (const auto& [k, v] : os.scalars) data.scalars["optim/" + k] = v;
  }
  if (state.scaler) {
    data.scalars["scaler/scale"] = state.scaler->get_scale();
    data.integers["scaler/growth_tracker"] = state.scaler->growth_tracker();
    data.integers["scaler/skipped"] = state.scaler->skipped_steps();
  }
  if (state.scheduler) data.integers["scheduler/epoch"] = state.scheduler->epoch();
  if (state.swa) {
    for (const auto& [k, t] : state.swa->averaged_model()->state_dict())
      data.tensors.insert("swa/" + k, t);
    data.integers["swa/count"] = state.swa->count();
  }
  if (state.step) data.integers["step"] = *state.step;
  if (state.texts) data.texts.insert(state.texts->begin(), state.texts->end());
  if (state.rng) {
    data.integers["rng/seed"] = static_cast<int64_t>(default_generator().seed());
    data.integers["rng/offset"] = static_cast<int64_t>(default_generator().offset());
  }
  return data;
}

std::string first_non_finite_entry(const CheckpointData& data) {
  NoGradGuard no_grad;
  for (const auto& [k, t] : data.tensors) {
    const bool checked = k.rfind("model/", 0) == 0 || k.rfind("optim/", 0) == 0 || k.rfind("swa/", 0) == 0;
    if (checked && t.numel() > 0 && !std::isfinite(sum(t * 0.0f).item())) return k;  // 0 * inf = NaN
  }
  return "";
}

void save_checkpoint(const std::string& path, const TrainingState& state) {
  const CheckpointData data = checkpoint_data(state);
  const std::string bad = first_non_finite_entry(data);
  QTORCH_CHECK(bad.empty(),
               "save_checkpoint: entry '{}' holds NaN or infinite values, which a resume would refuse; '{}' is not "
               "written",
               bad, path);
  write_checkpoint(path, data);
}

void load_checkpoint(const std::string& path, const TrainingState& state) {
  restore_checkpoint(read_checkpoint(path), path, state);
}

void restore_checkpoint(const CheckpointData& data, const std::string& path, const TrainingState& state) {
  // 1. Validate every requested part; nothing is changed until all pass.
  nn::StateDict model_sd, swa_sd;
  OptimizerState optim_sd;
  auto need = [&](bool present, const char* part) {
    QTORCH_CHECK(present, "load_checkpoint: expected {} state in '{}', got none", part, path);
  };
  if (state.model) {
    need(has_section(data, "model/"), "model");
    model_sd = tensors_under(data, "model/");
    try {
      state.model->check_state_dict(model_sd);
    } catch (const Error& e) {
      QTORCH_FAIL("load_checkpoint: '{}' does not fit the model: {}", path, e.what());
    }
    check_finite_tensors(data, "model/", path);
  }
  if (state.optimizer) {
    need(has_section(data, "optim/"), "optimizer");
    optim_sd = optimizer_state_of(data);
    check_optimizer_scalars(data, path);  // first: its errors name the file's entry
    try {
      state.optimizer->check_state_dict(optim_sd);
    } catch (const Error& e) {
      QTORCH_FAIL("load_checkpoint: '{}' does not fit the optimizer: {}", path, e.what());
    }
    check_finite_tensors(data, "optim/", path);
  }
  double scale = 0;
  if (state.scaler) {
    scale = scalar(data, "scaler/scale", path);
    QTORCH_CHECK(std::isfinite(scale) && scale > 0,
                 "load_checkpoint: '{}': entry 'scaler/scale': expected a finite loss scale > 0, got {}", path,
                 scale);
    count(data, "scaler/growth_tracker", path);
    count(data, "scaler/skipped", path);
  }
  if (state.scheduler) count(data, "scheduler/epoch", path);
  if (state.swa) {
    need(has_section(data, "swa/"), "SWA");
    swa_sd = tensors_under(data, "swa/");
    count(data, "swa/count", path);
    try {
      state.swa->averaged_model()->check_state_dict(swa_sd);
    } catch (const Error& e) {
      QTORCH_FAIL("load_checkpoint: '{}' does not fit the SWA model: {}", path, e.what());
    }
    check_finite_tensors(data, "swa/", path);
  }
  if (state.step) count(data, "step", path);
  if (state.rng) {
    integer(data, "rng/seed", path);  // any uint64 seed, stored as its int64 bits
    count(data, "rng/offset", path);  // an offset past 2^63 is no run's
  }

  // 2. Apply.
  if (state.model) state.model->load_state_dict(model_sd);
  if (state.optimizer) state.optimizer->load_state_dict(optim_sd);
  if (state.scaler) {
    state.scaler->set_scale(scale);
    state.scaler->set_growth_tracker(data.integers.at("scaler/growth_tracker"));
    state.scaler->set_skipped_steps(data.integers.at("scaler/skipped"));
  }
  if (state.scheduler) state.scheduler->set_epoch(data.integers.at("scheduler/epoch"));
  if (state.swa) {
    state.swa->averaged_model()->load_state_dict(swa_sd);
    state.swa->set_count(data.integers.at("swa/count"));
  }
  if (state.step) *state.step = data.integers.at("step");
  if (state.rng)
    default_generator().set_state(static_cast<uint64_t>(data.integers.at("rng/seed")),
                                  static_cast<uint64_t>(data.integers.at("rng/offset")));
}

}  // namespace qtorch::optim
