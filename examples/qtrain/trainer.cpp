// qtrain's run: the library's train::Trainer, with qtrain's banner, progress, metrics file,
// checkpoints and plot around it.
#include "examples/qtrain/trainer.h"

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>

#include "qtorch/core/backend.h"
#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/core/threads.h"
#include "qtorch/data/mnist.h"
#include "qtorch/dist/communicator.h"
#include "examples/qtrain/metrics.h"
#include "examples/qtrain/plot.h"
#include "examples/qtrain/progress.h"
#include "examples/qtrain/resume_check.h"
#include "qtorch/optim/checkpoint.h"
#include "qtorch/train/models.h"
#include "qtorch/train/trainer.h"

namespace qtrain {
namespace {

namespace train = qtorch::train;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The largest resident set size so far, in MiB (Linux reports ru_maxrss in KiB).
double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

train::TrainerOptions trainer_options(const Config& c) {
  return {.epochs = c.epochs,
          .batch_size = c.batch_size,
          .seed = c.seed,
          .device = qtorch::Device::parse(c.device),
          .optimizer = {.kind = c.optimizer, .lr = c.lr, .momentum = c.momentum, .weight_decay = c.weight_decay},
          .schedule = train::parse_schedule(c.schedule, "--schedule"),
          .averaging = {.start_epoch = std::max<int64_t>(c.swa_start, 0)},
          // Evaluation batch: large enough to amortise per-batch costs, small enough that
          // the convolution buffers (im2col) stay far below the training set's 188 MB.
          .eval_batch_size = 256,
          .evaluation_seed = c.isolated_evaluation ? std::optional<uint64_t>(c.seed ^ Config::kEvaluationSeedMix)
                                                   : std::nullopt,
          .stop_on_nan = c.stop_on_nan,
          .communicator = c.data_parallel ? qtorch::dist::world() : nullptr};
}

EpochRecord record_of(const train::EpochMetrics& m) {
  EpochRecord r{.epoch = m.epoch, .train_loss = m.train_loss, .train_accuracy = m.train_accuracy,
                .test_loss = m.test_loss, .test_accuracy = m.test_accuracy, .seconds = m.seconds,
                .samples_per_second = m.samples_per_second, .lr = m.lr, .update_fraction = m.update_fraction,
                .loss_scale = m.loss_scale, .comm_bytes_per_step = m.comm_bytes_per_step};
  if (m.loss_scale) r.skipped_steps = static_cast<double>(m.skipped_steps);
  const train::QuantCounts& e = m.counts[static_cast<int>(Role::Error)];
  if (e.numel > 0) {  // shares of all error elements
    r.flush_fraction = double(e.flushed) / double(e.numel);
    r.saturation_fraction = double(e.saturated) / double(e.numel);
  }
  return r;
}

/// Everything one run holds; built (and validated) by the constructor.
class Run {
 public:
  explicit Run(const Config& config);
  void train();
  const RunMetrics& metrics() const { return metrics_; }
  /// Prints the epoch's line and adds its record to the metrics file (on_epoch does, and
  /// train()'s caller for the epoch that diverged, which on_epoch never sees).
  void report(const train::EpochMetrics& m);

 private:
  void resume();
  void write_metrics() const;
  void on_epoch(const train::EpochMetrics& m);

  const Config& cfg_;
  Clock::time_point start_;  // first: total_seconds includes loading the data
  qtorch::data::Dataset train_set_, test_set_;
  std::unique_ptr<train::Trainer> trainer_;
  std::unique_ptr<Progress> progress_;
  RunMetrics metrics_;
};

Run::Run(const Config& cfg) : cfg_(cfg), start_(Clock::now()) {
  const qtorch::Device device = qtorch::Device::parse(cfg.device);
  if (device.is_cuda() && !qtorch::cuda_is_available())
    throw std::invalid_argument("--device " + cfg.device + ": " + qtorch::cuda_unavailable_reason() +
                                "; use --device cpu");
  if (!cfg.plot_path.empty()) check_plot_path(cfg.plot_path);
  if (!cfg.plot_path.empty() && find_gnuplot().empty())
    throw std::invalid_argument("--plot: " + gnuplot_missing_message());
  if (cfg.threads > 0) qtorch::set_num_threads(cfg.threads);

  namespace data = qtorch::data;
  try {
    train_set_ = data::load_mnist(cfg.data_dir, data::Split::Train, {.normalize = cfg.normalize, .limit = cfg.limit_train});
    test_set_ = data::load_mnist(cfg.data_dir, data::Split::Test, {.normalize = cfg.normalize, .limit = cfg.limit_test});
  } catch (const qtorch::Error& e) {
    throw std::invalid_argument(std::string("--data-dir: ") + e.what());
  }
  if (cfg.optimizer != "sgd" && cfg.recipe[train::Role::Momentum].quantized())
    std::fprintf(stderr,
                 "qtrain: warning: --optimizer %s with momentum=%s: the momentum format also rounds Adam's second "
                 "moment, whose squared gradients (about 1e-8) may flush to zero and make steps huge; "
                 "--momentum-format fp32 keeps both moments in float32\n",
                 cfg.optimizer.c_str(), train::to_string(cfg.recipe[train::Role::Momentum]).c_str());
  qtorch::manual_seed(cfg.seed);
  trainer_ = std::make_unique<train::Trainer>(train::models::by_name(cfg.model, "--model"), cfg.recipe,
                                              trainer_options(cfg));
  metrics_.config = config_to_json(cfg);
  // What the run trains and tests on: --limit-* beyond the folder's size take all of it.
  metrics_.config["train_images"] = train_set_.size();
  metrics_.config["test_images"] = test_set_.size();
  if (!cfg.resume_path.empty()) resume();
}

void Run::resume() {
  const std::string& path = cfg_.resume_path;
  qtorch::optim::CheckpointData checkpoint;
  try {
    checkpoint = qtorch::optim::read_checkpoint(path);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("--resume: ") + e.what());
  }
  std::string warning;
  check_resumable(checkpoint, cfg_, &warning);
  if (!warning.empty()) std::fprintf(stderr, "qtrain: warning: %s\n", warning.c_str());
  try {
    trainer_->resume(path);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("--resume: ") + e.what());
  }
  // Keep the earlier epochs' records when the metrics file of the first run is there.
  std::error_code ec;
  if (!cfg_.metrics_path.empty() && std::filesystem::exists(cfg_.metrics_path, ec)) {
    try {
      for (const EpochRecord& e : read_metrics(cfg_.metrics_path).epochs)
        if (e.epoch <= trainer_->epochs_done()) metrics_.epochs.push_back(e);
    } catch (const std::exception& e) {  // rewriting the file would lose its records
      throw std::invalid_argument(std::string("--metrics: cannot keep the earlier epochs' records (") + e.what() +
                                  "): give another --metrics file, or move this one away to start it afresh");
    }
  }
  std::printf("resumed from %s after epoch %lld\n", path.c_str(), (long long)trainer_->epochs_done());
}

void Run::write_metrics() const {
  if (cfg_.metrics_path.empty()) return;
  try {
    write_json_atomically(cfg_.metrics_path, to_json(metrics_));
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("--metrics: ") + e.what());
  }
}

void Run::report(const train::EpochMetrics& m) {
  if (progress_) progress_->finish();
  progress_.reset();
  const EpochRecord rec = record_of(m);
  std::printf("epoch %lld/%lld  train loss %.4f acc %.4f | test loss %.4f acc %.4f | %.1f s, %.0f samples/s, lr %g",
              (long long)rec.epoch, (long long)cfg_.epochs, rec.train_loss, rec.train_accuracy, rec.test_loss,
              rec.test_accuracy, rec.seconds, rec.samples_per_second, rec.lr);
  if (rec.update_fraction) std::printf(", updated %.3f", *rec.update_fraction);
  if (rec.loss_scale) std::printf(", loss scale %g", *rec.loss_scale);
  if (rec.skipped_steps) std::printf(", %.0f steps skipped so far", *rec.skipped_steps);
  if (rec.comm_bytes_per_step) std::printf(", sent %.0f bytes/step", *rec.comm_bytes_per_step);
  std::printf("\n");
  std::fflush(stdout);
  if (!std::isfinite(rec.train_loss) || !std::isfinite(rec.test_loss))
    std::fprintf(stderr,
                 "qtrain: warning: epoch %lld: the mean %s loss is %g: some batch gave a non-finite loss (the run "
                 "may have diverged; a loss scaler skips such steps)\n",
                 (long long)rec.epoch, std::isfinite(rec.train_loss) ? "test" : "training",
                 std::isfinite(rec.train_loss) ? rec.test_loss : rec.train_loss);
  metrics_.epochs.push_back(rec);
  write_metrics();
}

void Run::on_epoch(const train::EpochMetrics& m) {
  report(m);
  if (cfg_.checkpoint_path.empty()) return;
  // --no-stop-on-nan: keep the last good checkpoint (one that a resume would refuse must not replace it)
  if (const std::string bad = trainer_->first_non_finite(); !bad.empty()) {
    std::fprintf(stderr, "qtrain: warning: epoch %lld: '%s' holds NaN or infinite values: '%s' is not written\n",
                 (long long)m.epoch, bad.c_str(), cfg_.checkpoint_path.c_str());
    return;
  }
  try {
    trainer_->save_checkpoint(cfg_.checkpoint_path, run_identity(cfg_));
  } catch (const std::exception& e) {  // a checkpoint that cannot be written ends the run, as --metrics does
    throw std::runtime_error(std::string("--checkpoint: ") + e.what());
  }
}

void Run::train() {
  std::printf("qtrain: %s on %s (%lld training / %lld test images), device %s, %d threads\n", cfg_.model.c_str(),
              cfg_.data_dir.c_str(), (long long)train_set_.size(), (long long)test_set_.size(),
              trainer_->options().device.str().c_str(), qtorch::get_num_threads());
  if (trainer_->ranks() > 1)
    std::printf("qtrain: training data-parallel over %d processes (MPI): each takes %lld of every global batch of "
                "%lld, gradients sent as %s%s\n",
                trainer_->ranks(), (long long)cfg_.batch_size, (long long)cfg_.batch_size * trainer_->ranks(),
                train::to_string(cfg_.recipe.comm).c_str(), cfg_.recipe.comm_error_feedback ? " with error feedback" : "");
  std::printf("formats (preset %s): %s\n", cfg_.preset.c_str(), train::to_string(cfg_.recipe).c_str());
  std::printf("optimizer %s lr %g momentum %g weight decay %g, schedule %s, batch %lld, %lld epochs, seed %llu\n",
              cfg_.optimizer.c_str(), cfg_.lr, cfg_.momentum, cfg_.weight_decay, cfg_.schedule.c_str(),
              (long long)cfg_.batch_size, (long long)cfg_.epochs, (unsigned long long)cfg_.seed);
  std::fflush(stdout);
  train::TrainerCallbacks callbacks;
  callbacks.on_epoch = [this](const train::EpochMetrics& m) { on_epoch(m); };
  callbacks.on_batch = [this](int64_t epoch, int64_t done, int64_t batches, const train::RunningScore& score) {
    if (!progress_) progress_ = std::make_unique<Progress>(cfg_.progress, epoch, cfg_.epochs, batches);
    if (progress_->due(done)) progress_->update(done, score.samples(), score.mean_loss());
  };
  const train::TrainResult result = trainer_->fit(train_set_, test_set_, callbacks);

  FinalRecord fin{.test_accuracy = result.test.accuracy, .test_loss = result.test.loss};
  if (result.averaged_test) {
    fin.swa_test_accuracy = result.averaged_test->accuracy;
    std::printf("SWA model (%lld epochs averaged): test accuracy %.4f\n", (long long)result.averaged_snapshots,
                *fin.swa_test_accuracy);
  }
  fin.total_seconds = seconds_since(start_);
  fin.peak_rss_mb = peak_rss_mb();
  metrics_.final = fin;
  write_metrics();
  std::printf("test accuracy %.4f (%s, preset %s, %lld epochs, %.1f s, peak memory %.0f MB)\n", fin.test_accuracy,
              cfg_.model.c_str(), cfg_.preset.c_str(), (long long)cfg_.epochs, fin.total_seconds, fin.peak_rss_mb);
  if (!cfg_.metrics_path.empty()) std::printf("metrics: %s\n", cfg_.metrics_path.c_str());
  if (!cfg_.plot_path.empty()) {
    plot_runs({{cfg_.model + " " + cfg_.preset, metrics_}}, cfg_.plot_path);
    std::printf("plot: %s\n", cfg_.plot_path.c_str());
  }
  std::fflush(stdout);
}

}  // namespace

int run_training(const Config& config, RunMetrics* metrics, std::string* error) {
  std::unique_ptr<Run> run;
  struct KeepMetrics {
    const std::unique_ptr<Run>& run;
    RunMetrics* out;
    ~KeepMetrics() {
      if (out && run) *out = run->metrics();
    }
  } keep{run, metrics};
  auto fail = [&](int status, const std::string& message, const char* before = "") {
    std::fprintf(stderr, "%sqtrain: error: %s\n", before, message.c_str());
    if (error != nullptr) *error = message;
    return status;
  };
  try {
    run = std::make_unique<Run>(config);
  } catch (const std::exception& e) {
    return fail(kBadInput, e.what());
  }
  try {
    run->train();
  } catch (const train::TrainingDiverged& e) {
    try {
      run->report(e.metrics());  // its line, and its record in the metrics file (no final record)
    } catch (const std::exception& write_error) {
      std::fprintf(stderr, "qtrain: error: %s\n", write_error.what());
    }
    return fail(kDiverged, std::string(e.what()) + "; stopped (--no-stop-on-nan trains on)");
  } catch (const std::exception& e) {
    return fail(1, e.what(), "\n");
  }
  return 0;
}

}  // namespace qtrain
