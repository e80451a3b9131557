// Training loop of qtrain.
#include "examples/qtrain/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>

#include "autograd/elementwise.h"
#include "autograd/grad_mode.h"
#include "autograd/reduce.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/generator.h"
#include "core/threads.h"
#include "data/loader.h"
#include "data/mnist.h"
#include "examples/qtrain/evaluate.h"
#include "examples/qtrain/memory_usage.h"
#include "examples/qtrain/metrics.h"
#include "examples/qtrain/models.h"
#include "examples/qtrain/placement.h"
#include "examples/qtrain/plot.h"
#include "examples/qtrain/progress.h"
#include "examples/qtrain/quant_setup.h"
#include "examples/qtrain/resume_check.h"
#include "examples/qtrain/text_specs.h"
#include "nn/batchnorm.h"
#include "nn/loss.h"
#include "nn/lower.h"
#include "optim/adam.h"
#include "optim/checkpoint.h"
#include "optim/loss_scaler.h"
#include "optim/optim_lp.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"
#include "optim/swa.h"

namespace qtrain {
namespace {

using qtorch::Tensor;
using Clock = std::chrono::steady_clock;
namespace optim = qtorch::optim;
namespace nn = qtorch::nn;

// Evaluation batch: large enough to amortise per-batch costs, small enough that the
// convolution buffers (im2col) stay far below the training set's 188 MB.
constexpr int64_t kEvalBatch = 256;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// Everything one run holds; built (and validated) by the constructor.
class Run {
 public:
  explicit Run(const Config& config);
  void train();

 private:
  void banner() const;
  void resume();
  /// What a checkpoint saves and restores: everything training changes, and the run's identity.
  optim::TrainingState training_state();
  EpochRecord train_epoch(int64_t epoch);
  bool has_batchnorm(nn::Module& model) const;
  void finish();
  void write_metrics() const;

  const Config& cfg_;
  qtorch::Device device_;
  QuantSetup quant_;
  qtorch::data::Dataset train_set_, test_set_;
  nn::ModulePtr model_;
  std::shared_ptr<optim::Optimizer> optimizer_;
  std::unique_ptr<optim::LRScheduler> scheduler_;
  std::unique_ptr<optim::LossScaler> scaler_;
  std::unique_ptr<optim::SWA> swa_;
  nn::CrossEntropyLoss criterion_;
  RunMetrics metrics_;
  int64_t epochs_done_ = 0;
  std::map<std::string, std::string> identity_;  // model and formats, recorded in checkpoints
  Clock::time_point start_;  // set first: total_seconds includes loading the data
};

Run::Run(const Config& cfg)
    : cfg_(cfg), device_(qtorch::Device::parse(cfg.device)), quant_(cfg), start_(Clock::now()) {
  if (device_.is_cuda() && !qtorch::cuda_is_available())
    throw std::invalid_argument("--device " + cfg.device +
                                ": no CUDA device is available (this build has no CUDA support or "
                                "no GPU is visible); use --device cpu");
  if (!cfg.plot_path.empty()) check_plot_path(cfg.plot_path);
  if (!cfg.plot_path.empty() && find_gnuplot().empty())
    throw std::invalid_argument("--plot: " + gnuplot_missing_message());
  if (cfg.threads > 0) qtorch::set_num_threads(cfg.threads);

  namespace data = qtorch::data;
  data::MnistOptions train_opts{.normalize = cfg.normalize, .limit = cfg.limit_train};
  data::MnistOptions test_opts{.normalize = cfg.normalize, .limit = cfg.limit_test};
  try {
    train_set_ = data::load_mnist(cfg.data_dir, data::Split::Train, train_opts);
    test_set_ = data::load_mnist(cfg.data_dir, data::Split::Test, test_opts);
  } catch (const qtorch::Error& e) {
    throw std::invalid_argument(std::string("--data-dir: ") + e.what());
  }

  qtorch::manual_seed(cfg.seed);
  model_ = build_model(cfg.model);
  if (quant_.quantizes_model()) {
    // By default after each linear, conv and batch-norm layer, none after its ReLU (see
    // placement.h; measured: 5% of a block8 MLP step, LeNet 10-epoch accuracy unchanged within
    // seed noise).
    model_ = nn::make_low_precision(*model_, parse_quantize_after(cfg.quantize_after),
                                    quant_.quantizer_factory());
  }
  model_->to(device_);

  std::vector<Tensor> params = model_->parameters();
  std::shared_ptr<optim::Optimizer> base;
  if (cfg.optimizer == "sgd")
    base = std::make_shared<optim::SGD>(
        params, optim::SGDOptions{.lr = cfg.lr, .momentum = cfg.momentum, .weight_decay = cfg.weight_decay});
  else if (cfg.optimizer == "adam")
    base = std::make_shared<optim::Adam>(params, optim::AdamOptions{.lr = cfg.lr, .weight_decay = cfg.weight_decay});
  else
    base = std::make_shared<optim::AdamW>(params, optim::AdamWOptions{.lr = cfg.lr, .weight_decay = cfg.weight_decay});
  optimizer_ = quant_.quantizes_optimizer()
                   ? std::make_shared<optim::OptimLP>(base, quant_.optim_options())
                   : base;

  ScheduleSpec schedule = parse_schedule(cfg.schedule);
  if (schedule.kind == ScheduleSpec::Cosine)
    scheduler_ = std::make_unique<optim::CosineAnnealingLR>(*optimizer_, std::max<int64_t>(cfg.epochs, 1));
  else if (schedule.kind == ScheduleSpec::Step)
    scheduler_ = std::make_unique<optim::StepLR>(*optimizer_, schedule.step_every, schedule.gamma);

  LossScaleSpec loss_scale = parse_loss_scale(cfg.loss_scale);
  if (loss_scale.kind != LossScaleSpec::None)
    scaler_ = std::make_unique<optim::LossScaler>(optim::LossScalerOptions{
        .init_scale = loss_scale.scale, .dynamic = loss_scale.kind == LossScaleSpec::Dynamic});
  if (scaler_) {
    optim::LossScaler* scaler = scaler_.get();
    quant_.on_error_saturation([scaler](int64_t count) { scaler->report_overflow(count); });
  }
  if (cfg.swa_start > 0) swa_ = std::make_unique<optim::SWA>(model_, cfg.swa_start, 1);

  metrics_.config = config_to_json(cfg);
  identity_ = run_identity(cfg);
  if (!cfg.resume_path.empty()) resume();
}

void Run::resume() {
  const std::string& path = cfg_.resume_path;
  auto on_resume = [](const std::exception& e) {
    return std::invalid_argument(std::string("--resume: ") + e.what());
  };
  optim::CheckpointData checkpoint;
  try {
    checkpoint = optim::read_checkpoint(path);
  } catch (const std::exception& e) {
    throw on_resume(e);
  }
  std::string warning;
  check_resumable(checkpoint, cfg_, &warning);
  if (!warning.empty()) std::fprintf(stderr, "qtrain: warning: %s\n", warning.c_str());
  try {
    optim::restore_checkpoint(checkpoint, path, training_state());
  } catch (const std::exception& e) {
    throw on_resume(e);
  }
  // Keep the earlier epochs' records when the metrics file of the first run is there.
  std::error_code ec;
  if (!cfg_.metrics_path.empty() && std::filesystem::exists(cfg_.metrics_path, ec)) {
    try {
      for (const EpochRecord& e : read_metrics(cfg_.metrics_path).epochs)
        if (e.epoch <= epochs_done_) metrics_.epochs.push_back(e);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "qtrain: warning: earlier metrics not kept: %s\n", e.what());
    }
  }
  std::printf("resumed from %s after epoch %lld\n", cfg_.resume_path.c_str(), (long long)epochs_done_);
}

optim::TrainingState Run::training_state() {
  return {.model = model_.get(),
          .optimizer = optimizer_.get(),
          .scaler = scaler_.get(),
          .scheduler = scheduler_.get(),
          .swa = swa_.get(),
          .step = &epochs_done_,
          .texts = &identity_};
}

void Run::banner() const {
  std::printf("qtrain: %s on %s (%lld training / %lld test images), device %s, %d threads\n",
              cfg_.model.c_str(), cfg_.data_dir.c_str(), (long long)train_set_.size(),
              (long long)test_set_.size(), device_.str().c_str(), qtorch::get_num_threads());
  std::printf("formats (preset %s): %s; loss scale %s\n", cfg_.preset.c_str(), quant_.describe().c_str(),
              cfg_.loss_scale.empty() ? "none" : cfg_.loss_scale.c_str());
  std::printf("optimizer %s lr %g momentum %g weight decay %g, schedule %s, batch %lld, %lld epochs, seed %llu\n",
              cfg_.optimizer.c_str(), cfg_.lr, cfg_.momentum, cfg_.weight_decay, cfg_.schedule.c_str(),
              (long long)cfg_.batch_size, (long long)cfg_.epochs, (unsigned long long)cfg_.seed);
  std::fflush(stdout);
}

EpochRecord Run::train_epoch(int64_t epoch) {
  qtorch::data::DataLoader loader(train_set_, {.batch_size = cfg_.batch_size, .shuffle = true,
                                               .seed = cfg_.seed, .device = device_});
  loader.reset(epoch - 1);
  const int64_t batches = loader.num_batches();
  // Sample the share of weights an update changes a few times per epoch (it copies them).
  const int64_t sample_every = std::max<int64_t>(1, batches / 4);
  double update_sum = 0;
  int64_t update_samples = 0;

  EpochRecord rec;
  rec.epoch = epoch;
  rec.lr = optimizer_->lr();
  model_->train();
  RunningScore score(device_);
  Progress progress(cfg_.progress, epoch, cfg_.epochs, batches);
  const Clock::time_point t0 = Clock::now();
  qtorch::data::Batch batch;
  while (loader.next(batch)) {
    Tensor logits = model_->forward(batch.images);
    Tensor loss = criterion_(logits, batch.labels);
    optimizer_->zero_grad();
    const bool sample = (batch.index + 1) % sample_every == 0;
    std::vector<Tensor> before;
    if (sample) {
      qtorch::NoGradGuard no_grad;
      for (const Tensor& p : optimizer_->parameters()) before.push_back(p.clone());
    }
    if (scaler_) {
      scaler_->scale(loss).backward();
      scaler_->step(*optimizer_);
    } else {
      loss.backward();
      optimizer_->step();
    }
    if (sample) {
      qtorch::NoGradGuard no_grad;
      std::vector<Tensor> params = optimizer_->parameters();
      double changed = 0, total = 0;
      for (size_t i = 0; i < params.size(); ++i) {
        changed += qtorch::sum(qtorch::ne(params[i], before[i])).item();
        total += static_cast<double>(params[i].numel());
      }
      update_sum += total > 0 ? changed / total : 0;
      ++update_samples;
    }
    score.add(loss, logits, batch.labels);
    const int64_t done = batch.index + 1;
    if (progress.due(done)) progress.update(done, score.samples(), score.mean_loss());
  }
  Score train = score.read();  // waits for the device
  rec.seconds = seconds_since(t0);
  progress.finish();
  rec.train_loss = train.loss;
  rec.train_accuracy = train.accuracy;
  rec.samples_per_second = rec.seconds > 0 ? score.samples() / rec.seconds : 0;
  if (update_samples > 0) rec.update_fraction = update_sum / update_samples;
  if (std::optional<qtorch::QuantStats> s = quant_.take_stats(); s && s->numel > 0) {
    rec.flush_fraction = double(s->flushed) / double(s->numel);
    rec.saturation_fraction = double(s->clamped) / double(s->numel);
  }
  if (scaler_) rec.loss_scale = scaler_->get_scale();

  Score test = evaluate(*model_, test_set_, kEvalBatch, device_);
  rec.test_loss = test.loss;
  rec.test_accuracy = test.accuracy;
  return rec;
}

bool Run::has_batchnorm(nn::Module& model) const {
  for (auto& [name, m] : model.named_modules())
    if (dynamic_cast<nn::BatchNormBase*>(m.get())) return true;
  return false;
}

void Run::write_metrics() const {
  if (cfg_.metrics_path.empty()) return;
  try {
    write_json_atomically(cfg_.metrics_path, to_json(metrics_));
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("--metrics: ") + e.what());
  }
}

void Run::train() {
  banner();
  for (int64_t epoch = epochs_done_ + 1; epoch <= cfg_.epochs; ++epoch) {
    EpochRecord rec = train_epoch(epoch);
    std::printf("epoch %lld/%lld  train loss %.4f acc %.4f | test loss %.4f acc %.4f | %.1f s, %.0f samples/s, lr %g",
                (long long)epoch, (long long)cfg_.epochs, rec.train_loss, rec.train_accuracy,
                rec.test_loss, rec.test_accuracy, rec.seconds, rec.samples_per_second, rec.lr);
    if (rec.update_fraction) std::printf(", updated %.3f", *rec.update_fraction);
    if (rec.loss_scale) std::printf(", loss scale %g", *rec.loss_scale);
    std::printf("\n");
    std::fflush(stdout);
    if (!std::isfinite(rec.train_loss) || !std::isfinite(rec.test_loss))
      std::fprintf(stderr,
                   "qtrain: warning: epoch %lld: the mean %s loss is %g: some batch gave a non-finite "
                   "loss (the run may have diverged; a loss scaler skips such steps)\n",
                   (long long)epoch, std::isfinite(rec.train_loss) ? "test" : "training",
                   std::isfinite(rec.train_loss) ? rec.test_loss : rec.train_loss);
    metrics_.epochs.push_back(rec);
    if (scheduler_) scheduler_->step();
    if (swa_) swa_->update(epoch);
    epochs_done_ = epoch;
    write_metrics();
    if (!cfg_.checkpoint_path.empty())
      optim::save_checkpoint(cfg_.checkpoint_path, training_state());
  }
  finish();
}

void Run::finish() {
  FinalRecord fin;
  if (!metrics_.epochs.empty() && metrics_.epochs.back().epoch == cfg_.epochs) {
    fin.test_accuracy = metrics_.epochs.back().test_accuracy;
    fin.test_loss = metrics_.epochs.back().test_loss;
  } else {
    Score s = evaluate(*model_, test_set_, kEvalBatch, device_);
    fin.test_accuracy = s.accuracy;
    fin.test_loss = s.loss;
  }
  if (swa_ && swa_->count() > 0) {
    nn::ModulePtr avg = swa_->averaged_model();
    if (has_batchnorm(*avg)) {
      optim::update_bn(*avg, [&](const std::function<void(const Tensor&)>& run_batch) {
        qtorch::data::DataLoader loader(train_set_, {.batch_size = cfg_.batch_size, .shuffle = false, .device = device_});
        qtorch::data::Batch b;
        while (loader.next(b)) run_batch(b.images);
      });
    }
    fin.swa_test_accuracy = evaluate(*avg, test_set_, kEvalBatch, device_).accuracy;
    std::printf("SWA model (%lld epochs averaged): test accuracy %.4f\n", (long long)swa_->count(),
                *fin.swa_test_accuracy);
  }
  fin.total_seconds = seconds_since(start_);
  fin.peak_rss_mb = peak_rss_mb();
  metrics_.final = fin;
  write_metrics();
  std::printf("test accuracy %.4f (%s, preset %s, %lld epochs, %.1f s, peak memory %.0f MB)\n",
              fin.test_accuracy, cfg_.model.c_str(), cfg_.preset.c_str(), (long long)cfg_.epochs,
              fin.total_seconds, fin.peak_rss_mb);
  if (!cfg_.metrics_path.empty()) std::printf("metrics: %s\n", cfg_.metrics_path.c_str());
  if (!cfg_.plot_path.empty()) {
    std::string label = cfg_.model + " " + cfg_.preset;
    plot_runs({{label, metrics_}}, cfg_.plot_path);
    std::printf("plot: %s\n", cfg_.plot_path.c_str());
  }
  std::fflush(stdout);
}

}  // namespace

int run_training(const Config& config) {
  std::unique_ptr<Run> run;
  try {
    run = std::make_unique<Run>(config);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qtrain: error: %s\n", e.what());
    return kBadInput;
  }
  try {
    run->train();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\nqtrain: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace qtrain
