// One paired-arm training run of the paper harness: the model, train::Trainer with the
// arm's recipe, and the per-step diagnostics read from its callbacks.
#include "examples/papers/harness.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/generator.h"
#include "qtorch/nn/sequential.h"
#include "qtorch/train/models.h"

namespace qrepro {

using qtorch::Tensor;
namespace nn = qtorch::nn;
using qtorch::NoGradGuard;

const char* model_name(ModelKind kind) {
  switch (kind) {
    case ModelKind::Softmax: return "softmax 784-10";
    case ModelKind::Mlp: return "mlp 784-256-10";
    case ModelKind::LeNet: return "lenet-5";
  }
  return "?";
}

const Data& fashion_mnist(const std::string& dir) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<Data>> cache;
  std::lock_guard<std::mutex> lock(mu);
  std::string d = dir.empty() ? qtorch::data::kFashionMnistDir : dir;
  auto& slot = cache[d];
  if (!slot) {
    auto data = std::make_unique<Data>();
    data->train = qtorch::data::load_mnist(d, qtorch::data::Split::Train);
    data->test = qtorch::data::load_mnist(d, qtorch::data::Split::Test);
    slot = std::move(data);
  }
  return *slot;
}

qtorch::train::TrainerOptions default_training() {
  qtorch::train::TrainerOptions t;
  t.epochs = 3;
  t.batch_size = 128;
  t.optimizer = {.kind = "sgd", .lr = 0.01, .momentum = 0.0};
  t.eval_batch_size = 1000;
  t.evaluate_initial = true;
  t.stop_on_nan = false;  // a diverging arm is a result to report
  t.update_fraction_samples = std::numeric_limits<int64_t>::max();  // every step
  t.apply.counted_roles = {qtorch::train::kRoles.begin(), qtorch::train::kRoles.end()};
  t.apply.count_nonzero = true;
  return t;
}

qtorch::train::Recipe default_recipe() {
  qtorch::train::Recipe r;
  r.quantize_initial_weights = true;
  return r;
}

qtorch::train::Averaging averaging(int64_t from, int64_t every) {
  return {.start_epoch = from, .every_steps = every, .evaluate_each_epoch = true};
}

void set_roles(qtorch::train::Recipe& recipe, std::initializer_list<Role> roles, const qtorch::train::RoleFormat& format) {
  for (Role r : roles) recipe[r] = format;
}

std::string ArmConfig::describe() const {
  std::string s;
  for (auto [name, r] : {std::pair{"W", Role::Weight}, {"G", Role::Grad}, {"M", Role::Momentum}, {"ACC", Role::Acc},
                         {"A", Role::Activation}, {"E", Role::Error}})
    if (recipe[r].quantized()) s += std::string(s.empty() ? "" : " ") + name + "=" + to_string(recipe[r]);
  if (recipe.master_weights) s += " ACC=fp32-master";
  if (s.empty()) s = "fp32";
  const LossScaling& ls = recipe.loss_scaling;
  if (ls.kind == LossScaling::Kind::Multiplier) s += " loss*" + fmt::format("{:g}", ls.scale);
  if (ls.kind == LossScaling::Kind::Static) s += fmt::format(" scale=static:{:g}", ls.scale);
  if (ls.kind == LossScaling::Kind::Dynamic) s += " scale=dynamic";
  return s;
}

namespace {

// (x - mean) / std: the Fashion-MNIST training-set statistics, or 0.5 and 0.5 (to [-1, 1]).
class Normalize : public nn::Cloneable<Normalize> {
 public:
  Normalize(float mean, float std) : mean_(mean), inv_std_(1.0f / std) {}
  Tensor forward(const Tensor& x) override { return (x - mean_) * inv_std_; }
  std::string type_name() const override { return "Normalize"; }

 private:
  float mean_, inv_std_;
};

nn::ModulePtr build_model(ModelKind kind, InputScale input) {
  nn::ModulePtr net = kind == ModelKind::Softmax ? qtorch::train::models::mlp({784, 10})
                      : kind == ModelKind::Mlp   ? qtorch::train::models::mlp({784, 256, 10})
                                                 : qtorch::train::models::lenet();
  if (input == InputScale::Unit) return net;
  const auto [mean, std] = input == InputScale::Symmetric ? std::pair{0.5f, 0.5f} : std::pair{0.2860f, 0.3530f};
  return nn::sequential({std::make_shared<Normalize>(mean, std), net});
}

qtorch::data::Dataset limited(const qtorch::data::Dataset& d, int64_t limit) {
  if (limit < 0 || limit >= d.size()) return d;
  return {d.images.narrow(0, 0, limit), d.labels.narrow(0, 0, limit), d.num_classes};
}

// As a percentage of the counts, exactly as 100 * correct / n.
double percent(const qtorch::train::Score& s) { return s.samples ? 100.0 * double(s.correct) / double(s.samples) : 0.0; }

}  // namespace

ArmResult run_arm(const ArmConfig& cfg, const Data& data) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  ArmResult res;
  res.config = cfg;

  qtorch::manual_seed(cfg.training.seed);
  qtorch::train::TrainerOptions training = cfg.training;
  if (cfg.error_histogram)
    training.apply.error_hooks.push_back([&res](const Tensor& g) {
      res.error_histogram.add(g);
      return g;
    });
  qtorch::train::Trainer trainer(build_model(cfg.model, cfg.input), cfg.recipe, training);
  std::vector<Tensor> params = trainer.model().parameters();
  std::vector<Tensor> init;
  for (const auto& p : params) init.push_back(p.detach().clone());

  qtorch::train::TrainerCallbacks callbacks;
  callbacks.on_step = [&res](const qtorch::train::StepInfo& s) {
    const int64_t changed = s.changed.value_or(0);
    if (s.step == 0) res.first_step_update_fraction = double(changed) / double(s.total_weights);
    else if (changed > 0) ++res.steps_changing_after_first;
    if (s.loss_scale) res.scale_trace.push_back(*s.loss_scale);
  };
  auto epoch_start = clock::now();
  callbacks.on_epoch = [&](const qtorch::train::EpochMetrics& m) {
    EpochLog log;
    log.epoch = m.epoch;
    log.train_loss = m.train_loss;
    log.update_fraction = m.update_fraction.value_or(0.0);
    const Counts& e = m.counts[static_cast<int>(Role::Error)];
    log.error_flush_fraction = e.flush_fraction();
    log.error_saturation_fraction = e.saturation_fraction();
    log.loss_scale = m.loss_scale.value_or(1.0);
    log.skipped_steps = m.skipped_steps;
    log.test_accuracy = percent(m.test);
    log.test_loss = m.test_loss;
    if (m.averaged_test) log.avg_test_accuracy = percent(*m.averaged_test);
    if (m.epoch > 0) log.seconds = std::chrono::duration<double>(clock::now() - epoch_start).count();
    epoch_start = clock::now();
    res.epochs.push_back(log);
  };
  const qtorch::data::Dataset train = limited(data.train, cfg.limit_train);
  const qtorch::train::TrainResult result = trainer.fit(train, data.test, callbacks);

  res.test_accuracy = percent(result.test);
  res.test_loss = result.test.loss;
  if (cfg.eval_train_loss) res.train_loss = trainer.evaluate(train).loss;
  if (result.averaged_test) {
    res.avg_test_accuracy = percent(*result.averaged_test);
    res.avg_test_loss = result.averaged_test->loss;
    res.averaged_snapshots = result.averaged_snapshots;
    if (cfg.eval_train_loss) res.avg_train_loss = trainer.evaluate(train, trainer.averaged_model().get()).loss;
  }
  NoGradGuard no_grad;
  bool equal = true;
  for (size_t i = 0; i < params.size(); ++i) {
    equal = equal && qtorch::sum(qtorch::ne(params[i], init[i])).item() == 0.0f;
    for (float v : params[i].contiguous().to_vector()) res.max_abs_weight = std::max(res.max_abs_weight, double(std::fabs(v)));
  }
  res.weights_equal_init = equal;
  const qtorch::train::QuantCounters& c = trainer.counters();
  res.weight_counts = c.total(Role::Weight);
  res.grad_counts = c.total(Role::Grad);
  res.momentum_counts = c.total(Role::Momentum);
  res.activation_counts = c.total(Role::Activation);
  res.error_counts = c.total(Role::Error);
  res.skipped_steps = trainer.loss_scaler() ? trainer.loss_scaler()->skipped_steps() : 0;
  res.steps = result.steps;
  res.seconds = std::chrono::duration<double>(clock::now() - t0).count();
  return res;
}

namespace {

nlohmann::json counts_json(const Counts& c) {
  return {{"numel", c.numel},
          {"nonzero", c.nonzero},
          {"flushed", c.flushed},
          {"saturated", c.saturated},
          {"flush_fraction", c.flush_fraction()},
          {"saturation_fraction", c.saturation_fraction()}};
}

template <class T>
nlohmann::json opt_json(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json to_json(const ArmResult& r) {
  const ArmConfig& c = r.config;
  nlohmann::json epochs = nlohmann::json::array();
  for (const auto& e : r.epochs)
    epochs.push_back({{"epoch", e.epoch},
                      {"train_loss", e.train_loss},
                      {"test_accuracy", e.test_accuracy},
                      {"test_loss", e.test_loss},
                      {"update_fraction", e.update_fraction},
                      {"flush_fraction", e.error_flush_fraction},
                      {"saturation_fraction", e.error_saturation_fraction},
                      {"loss_scale", e.loss_scale},
                      {"skipped_steps", e.skipped_steps},
                      {"avg_test_accuracy", opt_json(e.avg_test_accuracy)},
                      {"seconds", e.seconds}});
  nlohmann::json hist = nlohmann::json::object();
  for (const auto& [k, v] : r.error_histogram.bins) hist[std::to_string(k)] = v;
  return {
      {"name", c.name},
      {"config",
       {{"model", model_name(c.model)},
        {"roles", c.describe()},
        {"recipe", to_string(c.recipe)},
        {"W", to_string(c.recipe[Role::Weight])},
        {"G", to_string(c.recipe[Role::Grad])},
        {"M", to_string(c.recipe[Role::Momentum])},
        {"ACC", c.recipe[Role::Acc].quantized() ? to_string(c.recipe[Role::Acc])
                                                : (c.recipe.master_weights ? "fp32 master copy" : "none")},
        {"A", to_string(c.recipe[Role::Activation])},
        {"E", to_string(c.recipe[Role::Error])},
        {"epochs", c.training.epochs},
        {"batch_size", c.training.batch_size},
        {"lr", c.training.optimizer.lr},
        {"momentum", c.training.optimizer.momentum},
        {"seed", c.training.seed},
        {"loss_scale", to_string(c.recipe.loss_scaling)},
        {"schedule", to_string(c.training.schedule)},
        {"limit_train", c.limit_train},
        {"average_from_epoch", c.training.averaging.start_epoch},
        {"average_every", c.training.averaging.every_steps},
        {"input", c.input == InputScale::Unit ? "[0, 1]" : c.input == InputScale::Symmetric ? "[-1, 1]" : "standardized"}}},
      {"epochs", epochs},
      {"test_accuracy", r.test_accuracy},
      {"test_loss", r.test_loss},
      {"train_loss", opt_json(r.train_loss)},
      {"avg_test_accuracy", opt_json(r.avg_test_accuracy)},
      {"avg_train_loss", opt_json(r.avg_train_loss)},
      {"averaged_snapshots", r.averaged_snapshots},
      {"max_abs_weight", r.max_abs_weight},
      {"first_step_update_fraction", r.first_step_update_fraction},
      {"steps_changing_after_first", r.steps_changing_after_first},
      {"weights_equal_init", r.weights_equal_init},
      {"weight_quant", counts_json(r.weight_counts)},
      {"grad_quant", counts_json(r.grad_counts)},
      {"momentum_quant", counts_json(r.momentum_counts)},
      {"activation_quant", counts_json(r.activation_counts)},
      {"error_quant", counts_json(r.error_counts)},
      {"scale_trace", r.scale_trace},
      {"skipped_steps", r.skipped_steps},
      {"error_log2_histogram", {{"bins", hist}, {"zeros", r.error_histogram.zeros}}},
      {"steps", r.steps},
      {"seconds", r.seconds},
  };
}

}  // namespace qrepro
