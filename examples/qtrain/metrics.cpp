// JSON form of the run metrics (nlohmann-json) and the atomic write.
#include "examples/qtrain/metrics.h"

#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <utility>

#include "qtorch/core/atomic_file.h"

namespace qtrain {
namespace {

void put_optional(nlohmann::ordered_json& j, const char* key, const std::optional<double>& v) {
  if (v) j[key] = *v;
}

using Json = nlohmann::ordered_json;

// A loss as JSON: a number, or "nan", "inf", "-inf" for a diverged epoch (JSON has no such
// numbers, and nlohmann-json would write null, which reads back as nothing).
Json loss_json(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
}

// Metrics files nest two levels; the parser refuses anything much deeper before a copy of it
// could recurse through the stack.
constexpr int kMaxJsonDepth = 32;

// Reading one record of a metrics file: every problem names the file and the field
// ("m.json: epochs[0].epoch: expected an integer >= 1, got 1.7").
class RecordReader {
 public:
  RecordReader(const std::string& path, std::string where, const Json& record)
      : path_(path), where_(std::move(where)), record_(record) {
    if (!record.is_object()) fail("", "an object", record.dump());
  }

  /// The field as an integer >= 1 (a JSON integer, not 1.7 or 1e300).
  int64_t count_from_one(const char* key) const {
    const Json& v = required(key, "an integer >= 1");
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) ||
        v.get<int64_t>() < 1)
      fail(key, "an integer >= 1", v.dump());
    return v.get<int64_t>();
  }
  /// The field as a finite number.
  double number(const char* key) const { return finite(key, required(key, "a finite number")); }
  /// The field as a finite number, or `fallback` when absent.
  double number_or(const char* key, double fallback) const {
    return record_.contains(key) ? finite(key, record_[key]) : fallback;
  }
  /// A loss (a cross-entropy): a finite number >= 0, or "nan", "inf" or "-inf" as loss_json
  /// spells them (null, as files written before losses were spelt so hold, reads as NaN).
  double loss(const char* key) const {
    const char* expected = "a number >= 0 or \"nan\", \"inf\", \"-inf\"";
    const Json& v = required(key, expected);
    if (v.is_null() || v == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (v == "inf") return std::numeric_limits<double>::infinity();
    if (v == "-inf") return -std::numeric_limits<double>::infinity();
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0) fail(key, expected, v.dump());
    return v.get<double>();
  }
  /// The field as a finite number, or nothing when absent or null.
  std::optional<double> optional_number(const char* key) const {
    if (!record_.contains(key) || record_[key].is_null()) return std::nullopt;
    return finite(key, record_[key]);
  }
  /// The field as a share (an accuracy, a fraction of elements): a number in [0, 1].
  double fraction(const char* key) const { return in_unit_interval(key, required(key, "a number in [0, 1]")); }
  /// A share, or nothing when absent or null.
  std::optional<double> optional_fraction(const char* key) const {
    if (!record_.contains(key) || record_[key].is_null()) return std::nullopt;
    return in_unit_interval(key, record_[key]);
  }

 private:
  const Json& required(const char* key, const char* expected) const {
    if (!record_.contains(key)) fail(key, expected, "none");
    return record_[key];
  }
  double in_unit_interval(const char* key, const Json& v) const {
    if (!v.is_number() || !(v.get<double>() >= 0 && v.get<double>() <= 1)) fail(key, "a number in [0, 1]", v.dump());
    return v.get<double>();
  }
  double finite(const char* key, const Json& v) const {
    if (!v.is_number() || !std::isfinite(v.get<double>())) fail(key, "a finite number", v.dump());
    return v.get<double>();
  }
  [[noreturn]] void fail(const std::string& key, const char* expected, const std::string& got) const {
    std::string shown = got.size() > 60 ? got.substr(0, 60) + "..." : got;
    throw std::runtime_error(path_ + ": " + where_ + (key.empty() ? "" : "." + key) + ": expected " + expected +
                             ", got " + shown);
  }

  const std::string& path_;
  std::string where_;
  const Json& record_;
};

}  // namespace

nlohmann::ordered_json config_to_json(const Config& c) {
  namespace train = qtorch::train;
  nlohmann::ordered_json formats = nlohmann::ordered_json::object();
  for (Role r : train::kRoles)
    formats[train::role_name(r)] = {{"format", qtorch::number_text(c.recipe[r].number)},
                                    {"rounding", qtorch::rounding_name(c.recipe[r].rounding)}};
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
      {"isolated_evaluation", c.isolated_evaluation},
      {"threads", c.threads},
      {"device", c.device},
      {"preset", c.preset},
      {"recipe", train::to_string(c.recipe)},
      {"formats", formats},
      {"loss_scale", train::to_string(c.recipe.loss_scaling)},
      {"comm", train::to_string(c.recipe.comm)},
      {"comm_error_feedback", c.recipe.comm_error_feedback},
      {"quantize_after", train::layer_kinds_text(c.recipe.quantize_after)},
      {"swa_start", c.swa_start},
      {"checkpoint", c.checkpoint_path},
      {"resume", c.resume_path},
  };
}

nlohmann::ordered_json to_json(const RunMetrics& m) {
  nlohmann::ordered_json epochs = nlohmann::ordered_json::array();
  for (const EpochRecord& e : m.epochs) {
    nlohmann::ordered_json j = {{"epoch", e.epoch},
                        {"train_loss", loss_json(e.train_loss)},
                        {"train_accuracy", e.train_accuracy},
                        {"test_loss", loss_json(e.test_loss)},
                        {"test_accuracy", e.test_accuracy},
                        {"seconds", e.seconds},
                        {"samples_per_second", e.samples_per_second},
                        {"lr", e.lr}};
    put_optional(j, "update_fraction", e.update_fraction);
    put_optional(j, "flush_fraction", e.flush_fraction);
    put_optional(j, "saturation_fraction", e.saturation_fraction);
    put_optional(j, "loss_scale", e.loss_scale);
    put_optional(j, "skipped_steps", e.skipped_steps);
    put_optional(j, "comm_bytes_per_step", e.comm_bytes_per_step);
    epochs.push_back(j);
  }
  nlohmann::ordered_json out = {{"config", m.config}, {"epochs", epochs}};
  if (m.final) {
    nlohmann::ordered_json f = {{"test_accuracy", m.final->test_accuracy},
                        {"test_loss", loss_json(m.final->test_loss)},
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
    j = nlohmann::ordered_json::parse(in, [&path](int depth, nlohmann::ordered_json::parse_event_t, Json&) {
      if (depth > kMaxJsonDepth)
        throw std::runtime_error(path + ": not a qtrain metrics file (nested deeper than " +
                                 std::to_string(kMaxJsonDepth) + " levels)");
      return true;
    });
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": not valid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("epochs") || !j["epochs"].is_array())
    throw std::runtime_error(path + ": not a qtrain metrics file (no \"epochs\" array)");
  RunMetrics m;
  if (j.contains("config")) m.config = j["config"];
  for (size_t i = 0; i < j["epochs"].size(); ++i) {
    RecordReader e(path, "epochs[" + std::to_string(i) + "]", j["epochs"][i]);
    EpochRecord r;
    r.epoch = e.count_from_one("epoch");
    if (!m.epochs.empty() && r.epoch <= m.epochs.back().epoch)
      throw std::runtime_error(path + ": epochs[" + std::to_string(i) + "].epoch: expected an epoch after " +
                               std::to_string(m.epochs.back().epoch) + " (the records in order), got " +
                               std::to_string(r.epoch));
    r.train_loss = e.loss("train_loss");
    r.train_accuracy = e.fraction("train_accuracy");
    r.test_loss = e.loss("test_loss");
    r.test_accuracy = e.fraction("test_accuracy");
    r.seconds = e.number_or("seconds", 0.0);
    r.samples_per_second = e.number_or("samples_per_second", 0.0);
    r.lr = e.number_or("lr", 0.0);
    r.update_fraction = e.optional_fraction("update_fraction");
    r.flush_fraction = e.optional_fraction("flush_fraction");
    r.saturation_fraction = e.optional_fraction("saturation_fraction");
    r.loss_scale = e.optional_number("loss_scale");
    r.skipped_steps = e.optional_number("skipped_steps");
    r.comm_bytes_per_step = e.optional_number("comm_bytes_per_step");
    m.epochs.push_back(r);
  }
  if (j.contains("final")) {
    RecordReader f(path, "final", j["final"]);
    FinalRecord r;
    r.test_accuracy = f.fraction("test_accuracy");
    r.test_loss = j["final"].contains("test_loss") ? f.loss("test_loss") : std::numeric_limits<double>::quiet_NaN();
    r.total_seconds = f.number_or("total_seconds", 0.0);
    r.peak_rss_mb = f.number_or("peak_rss_mb", 0.0);
    r.swa_test_accuracy = f.optional_fraction("swa_test_accuracy");
    m.final = r;
  }
  return m;
}

void write_json_atomically(const std::string& path, const nlohmann::ordered_json& value) {
  qtorch::write_file_atomically(path, value.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
}

}  // namespace qtrain
