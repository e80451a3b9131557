// JSON form of the run metrics (nlohmann-json) and the atomic write.
#include "examples/qtrain/metrics.h"

#include <fstream>
#include <stdexcept>

#include "examples/common/atomic_file.h"

namespace qtrain {
namespace {

void put_optional(nlohmann::ordered_json& j, const char* key, const std::optional<double>& v) {
  if (v) j[key] = *v;
}

std::optional<double> get_optional(const nlohmann::ordered_json& j, const char* key) {
  if (j.contains(key) && j[key].is_number()) return j[key].get<double>();
  return std::nullopt;
}

}  // namespace

nlohmann::ordered_json config_to_json(const Config& c) {
  nlohmann::ordered_json formats = nlohmann::ordered_json::object();
  for (Role r : kRoles)
    formats[role_name(r)] = {{"format", c.format(r).format}, {"rounding", c.format(r).rounding}};
  return {
      {"model", c.model},
      {"data_dir", c.data_dir},
      {"normalize", c.normalize},
      {"limit_train", c.limit_train},
      {"limit_test", c.limit_test},
      {"epochs", c.epochs},
      {"batch_size", c.batch_size},
      {"lr", c.lr},
      {"momentum", c.momentum},
      {"weight_decay", c.weight_decay},
      {"optimizer", c.optimizer},
      {"schedule", c.schedule},
      {"seed", c.seed},
      {"threads", c.threads},
      {"device", c.device},
      {"preset", c.preset},
      {"formats", formats},
      {"loss_scale", c.loss_scale.empty() ? "none" : c.loss_scale},
      {"swa_start", c.swa_start},
      {"checkpoint", c.checkpoint_path},
      {"resume", c.resume_path},
  };
}

nlohmann::ordered_json to_json(const RunMetrics& m) {
  nlohmann::ordered_json epochs = nlohmann::ordered_json::array();
  for (const EpochRecord& e : m.epochs) {
    nlohmann::ordered_json j = {{"epoch", e.epoch},
                        {"train_loss", e.train_loss},
                        {"train_accuracy", e.train_accuracy},
                        {"test_loss", e.test_loss},
                        {"test_accuracy", e.test_accuracy},
                        {"seconds", e.seconds},
                        {"samples_per_second", e.samples_per_second},
                        {"lr", e.lr}};
    put_optional(j, "update_fraction", e.update_fraction);
    put_optional(j, "flush_fraction", e.flush_fraction);
    put_optional(j, "saturation_fraction", e.saturation_fraction);
    put_optional(j, "loss_scale", e.loss_scale);
    epochs.push_back(j);
  }
  nlohmann::ordered_json out = {{"config", m.config}, {"epochs", epochs}};
  if (m.final) {
    nlohmann::ordered_json f = {{"test_accuracy", m.final->test_accuracy},
                        {"test_loss", m.final->test_loss},
                        {"total_seconds", m.final->total_seconds},
                        {"peak_rss_mb", m.final->peak_rss_mb}};
    put_optional(f, "swa_test_accuracy", m.final->swa_test_accuracy);
    out["final"] = f;
  }
  return out;
}

RunMetrics read_metrics(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open the file");
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": not valid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("epochs") || !j["epochs"].is_array())
    throw std::runtime_error(path + ": not a qtrain metrics file (no \"epochs\" array)");
  RunMetrics m;
  try {
    if (j.contains("config")) m.config = j["config"];
    for (const nlohmann::ordered_json& e : j["epochs"]) {
      EpochRecord r;
      r.epoch = e.at("epoch").get<int64_t>();
      r.train_loss = e.at("train_loss").get<double>();
      r.train_accuracy = e.at("train_accuracy").get<double>();
      r.test_loss = e.at("test_loss").get<double>();
      r.test_accuracy = e.at("test_accuracy").get<double>();
      r.seconds = e.value("seconds", 0.0);
      r.samples_per_second = e.value("samples_per_second", 0.0);
      r.lr = e.value("lr", 0.0);
      r.update_fraction = get_optional(e, "update_fraction");
      r.flush_fraction = get_optional(e, "flush_fraction");
      r.saturation_fraction = get_optional(e, "saturation_fraction");
      r.loss_scale = get_optional(e, "loss_scale");
      m.epochs.push_back(r);
    }
    if (j.contains("final")) {
      const nlohmann::ordered_json& f = j["final"];
      FinalRecord r;
      r.test_accuracy = f.at("test_accuracy").get<double>();
      r.test_loss = f.value("test_loss", 0.0);
      r.total_seconds = f.value("total_seconds", 0.0);
      r.peak_rss_mb = f.value("peak_rss_mb", 0.0);
      r.swa_test_accuracy = get_optional(f, "swa_test_accuracy");
      m.final = r;
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": malformed metrics record: " + e.what());
  }
  return m;
}

void write_json_atomically(const std::string& path, const nlohmann::ordered_json& value) {
  qtorch::examples::write_file_atomically(path, value.dump(2) + "\n");
}

}  // namespace qtrain
