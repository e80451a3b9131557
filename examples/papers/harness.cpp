// One paired-arm training run of the paper harness: model with layer quantizers, SGD wrapped
// in OptimLP, optional loss scaling and weight averaging, and the per-step diagnostics.
#include "examples/papers/harness.h"

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "autograd/elementwise.h"
#include "autograd/grad_mode.h"
#include "autograd/loss.h"
#include "autograd/reduce.h"
#include "core/generator.h"
#include "data/loader.h"
#include "nn/activation.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/pooling.h"
#include "nn/sequential.h"
#include "optim/loss_scaler.h"
#include "optim/optim_lp.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"
#include "optim/swa.h"

namespace qrepro {

using qtorch::Tensor;
namespace nn = qtorch::nn;
namespace optim = qtorch::optim;

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

std::string ArmConfig::describe() const {
  std::string s;
  auto add = [&](const char* name, const Role& r) {
    if (r.on()) s += std::string(s.empty() ? "" : " ") + name + "=" + r.text();
  };
  add("W", W);
  add("G", G);
  add("M", M);
  add("ACC", ACC);
  add("A", A);
  add("E", E);
  if (master_copy && !ACC.on()) s += " ACC=fp32-master";
  if (s.empty()) s = "fp32";
  if (loss_multiplier != 1.0) s += " loss*" + fmt::format("{:g}", loss_multiplier);
  if (scaling.mode == ScaleMode::Static) s += fmt::format(" scale=static:{:g}", scaling.init_scale);
  if (scaling.mode == ScaleMode::Dynamic) s += " scale=dynamic";
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

// Appends a layer and, when A or E is quantized, its output quantizer.
struct NetBuilder {
  std::shared_ptr<nn::Sequential> net = std::make_shared<nn::Sequential>();
  Role a, e;
  std::shared_ptr<LayerCounters> counters;

  void layer(nn::ModulePtr m) {
    net->push_back(std::move(m));
    if (a.on() || e.on() || counters->record_histogram)
      net->push_back(std::make_shared<LayerQuantizer>(a, e, counters));
  }
  void plain(nn::ModulePtr m) { net->push_back(std::move(m)); }
};

nn::ModulePtr build_model(ModelKind kind, InputScale input, const Role& a, const Role& e,
                          const std::shared_ptr<LayerCounters>& counters) {
  using std::make_shared;
  NetBuilder b;
  b.a = a;
  b.e = e;
  b.counters = counters;
  if (input == InputScale::Symmetric) b.plain(make_shared<Normalize>(0.5f, 0.5f));
  if (input == InputScale::Standardized) b.plain(make_shared<Normalize>(0.2860f, 0.3530f));
  switch (kind) {
    case ModelKind::Softmax:
      b.plain(make_shared<nn::Flatten>());
      b.layer(make_shared<nn::Linear>(784, 10));
      break;
    case ModelKind::Mlp:
      b.plain(make_shared<nn::Flatten>());
      b.layer(make_shared<nn::Linear>(784, 256));
      b.plain(make_shared<nn::ReLU>());
      b.layer(make_shared<nn::Linear>(256, 10));
      break;
    case ModelKind::LeNet:
      b.layer(make_shared<nn::Conv2d>(1, 6, 5, nn::Conv2dOptions{.padding = 2}));
      b.plain(make_shared<nn::ReLU>());
      b.plain(make_shared<nn::MaxPool2d>(2));
      b.layer(make_shared<nn::Conv2d>(6, 16, 5));
      b.plain(make_shared<nn::ReLU>());
      b.plain(make_shared<nn::MaxPool2d>(2));
      b.plain(make_shared<nn::Flatten>());
      b.layer(make_shared<nn::Linear>(400, 120));
      b.plain(make_shared<nn::ReLU>());
      b.layer(make_shared<nn::Linear>(120, 84));
      b.plain(make_shared<nn::ReLU>());
      b.layer(make_shared<nn::Linear>(84, 10));
      break;
  }
  return b.net;
}

struct Score {
  double loss = 0, accuracy = 0;
};

// Mean loss and accuracy (percent) over a data set in eval mode; the layer counters are
// restored afterwards so evaluation never counts as training.
Score evaluate(nn::Module& model, const qtorch::data::Dataset& d, LayerCounters& counters) {
  LayerCounters saved = counters;
  counters.record_histogram = false;
  const bool was_training = model.is_training();
  model.eval();
  qtorch::NoGradGuard no_grad;
  const int64_t n = d.size(), bs = 1000;
  double loss = 0;
  int64_t correct = 0;
  for (int64_t i = 0; i < n; i += bs) {
    int64_t m = std::min(bs, n - i);
    Tensor x = d.images.narrow(0, i, m), y = d.labels.narrow(0, i, m);
    Tensor logits = model.forward(x);
    loss += qtorch::cross_entropy(logits, y, qtorch::Reduction::Sum).item();
    std::vector<float> pred = qtorch::argmax(logits, 1).to_vector(), lab = y.to_vector();
    for (int64_t k = 0; k < m; ++k) correct += pred[k] == lab[k] ? 1 : 0;
  }
  model.train(was_training);
  counters = saved;
  return {loss / double(n), 100.0 * double(correct) / double(n)};
}

std::vector<Tensor> snapshot(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const auto& p : params) out.push_back(p.detach().clone());
  return out;
}

// Elements that differ between the live parameters and a snapshot.
int64_t changed_elements(const std::vector<Tensor>& params, const std::vector<Tensor>& before) {
  int64_t changed = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor a = params[i].contiguous(), b = before[i];
    const float *pa = a.data_ptr(), *pb = b.data_ptr();
    for (int64_t k = 0, n = a.numel(); k < n; ++k) changed += pa[k] != pb[k] ? 1 : 0;
  }
  return changed;
}

qtorch::data::Dataset limited(const qtorch::data::Dataset& d, int64_t limit) {
  if (limit < 0 || limit >= d.size()) return d;
  return {d.images.narrow(0, 0, limit), d.labels.narrow(0, 0, limit), d.num_classes};
}

}  // namespace

ArmResult train_arm(const ArmConfig& cfg, const Data& data) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  ArmResult res;
  res.config = cfg;

  qtorch::manual_seed(cfg.seed);
  auto counters = std::make_shared<LayerCounters>();
  counters->record_histogram = cfg.error_histogram;
  nn::ModulePtr model = build_model(cfg.model, cfg.input, cfg.A, cfg.E, counters);
  std::vector<Tensor> params = model->parameters();

  auto wc = std::make_shared<Counts>(), gc = std::make_shared<Counts>(),
       mc = std::make_shared<Counts>(), ac = std::make_shared<Counts>();
  {
    // The accumulator starts as ACC(init), the stored weights as W(ACC(init)).
    qtorch::NoGradGuard no_grad;
    if (cfg.ACC.on())
      for (auto& p : params) p.copy_(quantize_counted(p, cfg.ACC, nullptr));
  }
  auto sgd = std::make_shared<optim::SGD>(params, optim::SGDOptions{.lr = cfg.lr, .momentum = cfg.momentum});
  optim::OptimLPOptions lp;
  lp.weight_quant = optim_quant_fn(cfg.W, wc);
  lp.grad_quant = optim_quant_fn(cfg.G, gc);
  lp.momentum_quant = optim_quant_fn(cfg.M, mc);
  lp.acc_quant = optim_quant_fn(cfg.ACC, ac);
  if (!lp.acc_quant && cfg.master_copy) lp.acc_quant = [](const Tensor& x) { return x.detach().clone(); };
  lp.grad_scaling = 1.0 / cfg.loss_multiplier;
  const bool use_lp = lp.weight_quant || lp.grad_quant || lp.momentum_quant || lp.acc_quant ||
                      cfg.loss_multiplier != 1.0;
  std::shared_ptr<optim::Optimizer> opt = sgd;
  if (use_lp) opt = std::make_shared<optim::OptimLP>(sgd, lp);
  {
    qtorch::NoGradGuard no_grad;
    if (cfg.W.on())
      for (auto& p : params) p.copy_(quantize_counted(p, cfg.W, nullptr));
  }
  const std::vector<Tensor> init = snapshot(params);
  int64_t total_weights = 0;
  for (const auto& p : params) total_weights += p.numel();

  std::unique_ptr<optim::LossScaler> scaler;
  if (cfg.scaling.mode != ScaleMode::None) {
    scaler = std::make_unique<optim::LossScaler>(optim::LossScalerOptions{
        .init_scale = cfg.scaling.init_scale,
        .dynamic = cfg.scaling.mode == ScaleMode::Dynamic,
        .growth_interval = cfg.scaling.growth_interval});
    // Saturation inside E is overflow too (NUMERICS "Overflow must stay visible").
    scaler->add_overflow_check([counters] {
      bool overflow = counters->error_saturated_pending > 0;
      counters->error_saturated_pending = 0;
      return overflow;
    });
  }
  std::unique_ptr<optim::SWALPScheduleLR> schedule;
  if (cfg.schedule.swalp)
    schedule = std::make_unique<optim::SWALPScheduleLR>(*opt, cfg.schedule.decay_epochs, cfg.schedule.ratio);

  const qtorch::data::Dataset train = limited(data.train, cfg.limit_train);
  qtorch::data::DataLoader loader(train, {.batch_size = cfg.batch_size, .shuffle = true, .seed = cfg.seed});
  const int64_t steps_per_epoch = loader.num_batches();
  std::unique_ptr<optim::SWA> swa;
  if (cfg.average_from_epoch > 0)
    swa = std::make_unique<optim::SWA>(model, (cfg.average_from_epoch - 1) * steps_per_epoch,
                                       cfg.average_every);

  {
    Score s0 = evaluate(*model, data.test, *counters);
    EpochLog e0;
    e0.test_accuracy = s0.accuracy;
    e0.test_loss = s0.loss;
    e0.loss_scale = scaler ? scaler->get_scale() : 1.0;
    res.epochs.push_back(e0);
  }

  int64_t step = 0;
  qtorch::data::Batch batch;
  for (int64_t epoch = 1; epoch <= cfg.epochs; ++epoch) {
    const auto te = clock::now();
    if (schedule) schedule->set_epoch(epoch - 1);
    loader.reset(epoch - 1);
    Counts error_before = counters->error;
    double loss_sum = 0, update_sum = 0;
    int64_t batches = 0;
    while (loader.next(batch)) {
      Tensor logits = model->forward(batch.images);
      Tensor loss = qtorch::cross_entropy(logits, batch.labels);
      loss_sum += loss.item();
      Tensor l = cfg.loss_multiplier != 1.0 ? loss * static_cast<float>(cfg.loss_multiplier) : loss;
      if (scaler) l = scaler->scale(l);
      l.backward();
      std::vector<Tensor> before = snapshot(params);
      if (scaler) {
        scaler->step(*opt);
      } else {
        opt->step();
      }
      opt->zero_grad();
      const int64_t changed = changed_elements(params, before);
      const double frac = double(changed) / double(total_weights);
      update_sum += frac;
      if (step == 0) res.first_step_update_fraction = frac;
      else if (changed > 0) ++res.steps_changing_after_first;
      if (scaler) res.scale_trace.push_back(scaler->get_scale());
      if (swa) swa->update(step);
      ++step;
      ++batches;
    }
    EpochLog log;
    log.epoch = epoch;
    log.train_loss = loss_sum / double(std::max<int64_t>(batches, 1));
    log.update_fraction = update_sum / double(std::max<int64_t>(batches, 1));
    Counts ep;
    ep.numel = counters->error.numel - error_before.numel;
    ep.nonzero = counters->error.nonzero - error_before.nonzero;
    ep.flushed = counters->error.flushed - error_before.flushed;
    ep.saturated = counters->error.saturated - error_before.saturated;
    log.error_flush_fraction = ep.flush_fraction();
    log.error_saturation_fraction = ep.saturation_fraction();
    log.loss_scale = scaler ? scaler->get_scale() : 1.0;
    log.skipped_steps = scaler ? scaler->skipped_steps() : 0;
    Score s = evaluate(*model, data.test, *counters);
    log.test_accuracy = s.accuracy;
    log.test_loss = s.loss;
    if (swa && swa->count() > 0) log.avg_test_accuracy = evaluate(*swa->averaged_model(), data.test, *counters).accuracy;
    log.seconds = std::chrono::duration<double>(clock::now() - te).count();
    res.epochs.push_back(log);
  }

  res.test_accuracy = res.last().test_accuracy;
  res.test_loss = res.last().test_loss;
  if (cfg.eval_train_loss) res.train_loss = evaluate(*model, train, *counters).loss;
  if (swa && swa->count() > 0) {
    Score s = evaluate(*swa->averaged_model(), data.test, *counters);
    res.avg_test_accuracy = s.accuracy;
    res.avg_test_loss = s.loss;
    res.averaged_snapshots = swa->count();
    if (cfg.eval_train_loss) res.avg_train_loss = evaluate(*swa->averaged_model(), train, *counters).loss;
  }
  res.weights_equal_init = changed_elements(params, init) == 0;
  for (const auto& p : params)
    for (float v : p.contiguous().to_vector()) res.max_abs_weight = std::max(res.max_abs_weight, double(std::fabs(v)));
  res.weight_counts = *wc;
  res.grad_counts = *gc;
  res.momentum_counts = *mc;
  res.activation_counts = counters->activation;
  res.error_counts = counters->error;
  res.error_histogram = counters->error_histogram;
  res.skipped_steps = scaler ? scaler->skipped_steps() : 0;
  res.steps = step;
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
        {"W", c.W.text()},
        {"G", c.G.text()},
        {"M", c.M.text()},
        {"ACC", c.ACC.on() ? c.ACC.text() : (c.master_copy ? "fp32 master copy" : "none")},
        {"A", c.A.text()},
        {"E", c.E.text()},
        {"epochs", c.epochs},
        {"batch_size", c.batch_size},
        {"lr", c.lr},
        {"momentum", c.momentum},
        {"seed", c.seed},
        {"loss_multiplier", c.loss_multiplier},
        {"limit_train", c.limit_train},
        {"average_from_epoch", c.average_from_epoch},
        {"average_every", c.average_every},
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
