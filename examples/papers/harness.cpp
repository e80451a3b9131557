// One paired-arm training run of the paper harness: the model, train::Trainer with the
// arm's recipe, and the per-step diagnostics read from its callbacks.
#include "examples/papers/harness.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/generator.h"
#include "qtorch/nn/linear.h"
#include "qtorch/nn/pooling.h"
#include "qtorch/nn/qlinear.h"
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
  const char* where = mac_scope == MacScope::FirstLinear  ? " (first linear layer)"
                      : mac_scope == MacScope::LastLinear ? " (last linear layer)"
                                                          : "";
  if (recipe.mac_forward) s += fmt::format(" MAC-fwd=[{}]{}", qtorch::quant::mac_text(*recipe.mac_forward), where);
  if (recipe.mac_backward) s += fmt::format(" MAC-bwd=[{}]{}", qtorch::quant::mac_text(*recipe.mac_backward), where);
  return s;
}

std::string ArmConfig::model_text() const {
  if (model != ModelKind::Mlp || (mlp_widths.empty() && input_pool == 1)) return model_name(model);
  std::string s = "mlp ";
  const std::vector<int64_t> w = mlp_widths.empty() ? std::vector<int64_t>{784, 256, 10} : mlp_widths;
  for (size_t i = 0; i < w.size(); ++i) s += (i ? "-" : "") + std::to_string(w[i]);
  if (input_pool > 1) s += fmt::format(" ({0}x{0} average-pooled input)", 28 / input_pool);
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

// Every Linear layer of the model, depth first in order, with its parent and its name there.
struct LinearSlot {
  nn::ModulePtr parent;
  std::string name;
  const nn::Linear* linear;
};
void find_linears(const nn::ModulePtr& m, std::vector<LinearSlot>& out) {
  for (const auto& [name, child] : m->named_children()) {
    if (auto* linear = dynamic_cast<const nn::Linear*>(child.get())) out.push_back({m, name, linear});
    else find_linears(child, out);
  }
}

}  // namespace

nn::ModulePtr build_model(const ArmConfig& cfg) {
  nn::ModulePtr net;
  if (cfg.model == ModelKind::Mlp) {
    if (cfg.input_pool < 1 || 28 % cfg.input_pool != 0)
      throw std::invalid_argument(fmt::format("qrepro: input_pool {} does not divide 28", cfg.input_pool));
    const int64_t side = 28 / cfg.input_pool;
    const std::vector<int64_t> widths = cfg.mlp_widths.empty() ? std::vector<int64_t>{784, 256, 10} : cfg.mlp_widths;
    if (widths.size() < 2 || widths.front() != side * side || widths.back() != 10)
      throw std::invalid_argument(fmt::format("qrepro: mlp widths must start at {} and end at 10", side * side));
    net = qtorch::train::models::mlp(widths);
    if (cfg.input_pool > 1) net = nn::sequential({std::make_shared<nn::AvgPool2d>(cfg.input_pool), net});
  } else {
    net = cfg.model == ModelKind::Softmax ? qtorch::train::models::mlp({784, 10}) : qtorch::train::models::lenet();
  }
  if (cfg.input != InputScale::Unit) {
    const auto [mean, std] = cfg.input == InputScale::Symmetric ? std::pair{0.5f, 0.5f} : std::pair{0.2860f, 0.3530f};
    net = nn::sequential({std::make_shared<Normalize>(mean, std), net});
  }
  if (cfg.mac_scope != MacScope::AllLayers && (cfg.recipe.mac_forward || cfg.recipe.mac_backward)) {
    std::vector<LinearSlot> linears;
    find_linears(net, linears);
    if (linears.empty()) throw std::invalid_argument("qrepro: a MAC scope of one Linear layer on a model without one");
    const LinearSlot& slot = cfg.mac_scope == MacScope::FirstLinear ? linears.front() : linears.back();
    slot.parent->replace_module(
        slot.name, std::make_shared<nn::QLinear>(*slot.linear, cfg.recipe.mac_forward, cfg.recipe.mac_backward));
  }
  return net;
}

qtorch::train::Recipe trainer_recipe(const ArmConfig& cfg) {
  qtorch::train::Recipe r = cfg.recipe;
  if (cfg.mac_scope != MacScope::AllLayers) r.mac_forward = r.mac_backward = std::nullopt;
  return r;
}

namespace {

// The first `limit` items, or with a limit < 0 the whole split of Fashion-MNIST (`whole`
// items: 60 000 training, 10 000 test images), as the parts' set-ups and criteria say. A folder
// with fewer items than that is refused, and with another count for a whole split too: the part
// would train or be judged on another set than it says, and a FAIL (or PASS) could not be told
// from a real one.
qtorch::data::Dataset limited(const qtorch::data::Dataset& d, int64_t limit, int64_t whole, const char* what) {
  if (limit > d.size())
    throw std::invalid_argument(std::string("--data: the part trains on the first ") + std::to_string(limit) + " " +
                                what + " images, the data folder holds " + std::to_string(d.size()));
  if (limit < 0 && d.size() != whole)
    throw std::invalid_argument(std::string("--data: the part uses all ") + std::to_string(whole) + " " + what +
                                " images of Fashion-MNIST, the data folder holds " + std::to_string(d.size()));
  if (limit < 0 || limit == d.size()) return d;
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
  qtorch::train::Trainer trainer(build_model(cfg), trainer_recipe(cfg), training);
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
  const qtorch::data::Dataset train = limited(data.train, cfg.limit_train, 60000, "training");
  const qtorch::data::Dataset test = limited(data.test, cfg.limit_test, 10000, "test");
  const qtorch::train::TrainResult result = trainer.fit(train, test, callbacks);

  if (cfg.probe) {
    NoGradGuard no_grad;
    res.probes = cfg.probe(trainer.model(), test);
  }
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
       {{"model", c.model_text()},
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
        {"limit_test", c.limit_test},
        {"mac_scope", c.mac_scope == MacScope::FirstLinear  ? "first linear layer"
                      : c.mac_scope == MacScope::LastLinear ? "last linear layer"
                                                            : "all layers"},
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
      {"probes", r.probes},
  };
}

}  // namespace qrepro
