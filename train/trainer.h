// train::Trainer: the epoch loop of low-precision training. Applies a recipe to a model,
// then trains on shuffled mini-batches (forward, loss, backward with loss scaling, skipped
// steps on overflow, optimizer step, schedule, weight averaging), evaluates, reports each
// epoch through a callback and checkpoints. It prints nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "qtorch/core/device.h"
#include "qtorch/data/loader.h"
#include "qtorch/data/mnist.h"
#include "qtorch/dist/communicator.h"
#include "qtorch/dist/data_parallel.h"
#include "qtorch/nn/module.h"
#include "qtorch/optim/checkpoint.h"
#include "qtorch/optim/loss_scaler.h"
#include "qtorch/optim/scheduler.h"
#include "qtorch/optim/swa.h"
#include "qtorch/train/apply.h"
#include "qtorch/train/evaluate.h"
#include "qtorch/train/recipe.h"

namespace qtorch::train {

/// The optimizer the recipe wraps.
struct OptimizerOptions {
  std::string kind = "sgd";  ///< sgd | adam | adamw
  double lr = 0.05;
  double momentum = 0.9;  ///< sgd only
  double weight_decay = 0.0;
};
/// Builds it on `params`; throws qtorch::Error for an unknown kind or bad value.
std::shared_ptr<optim::Optimizer> make_optimizer(const OptimizerOptions& options, const std::vector<Tensor>& params);

/// The learning rate per epoch.
struct Schedule {
  enum class Kind { Constant, Cosine, Step, Swalp } kind = Kind::Constant;
  int64_t every = 0;      ///< Step: epochs between decays; Swalp: the epochs of its schedule
  double factor = 1.0;    ///< Step: the decay factor; Swalp: the final ratio of the lr
  bool operator==(const Schedule&) const = default;
};
/// "constant", "cosine" (over the run's epochs), "step:EVERY:GAMMA", "swalp:EPOCHS:RATIO"
/// (base lr for the first half, linear down to RATIO * lr at 0.9 of EPOCHS, then constant).
Schedule parse_schedule(const std::string& text, const std::string& what = "schedule");
std::string to_string(const Schedule& schedule);

/// Stochastic weight averaging of the trained weights, in float32.
struct Averaging {
  int64_t start_epoch = 0;  ///< first epoch (from 1) averaged; 0: off
  /// > 0: average every that many steps from the start of start_epoch (as SWALP does);
  /// 0: once at the end of every epoch from start_epoch.
  int64_t every_steps = 0;
  /// Also evaluate the averaged model after every epoch that has averaged snapshots.
  bool evaluate_each_epoch = false;
};

struct TrainerOptions {
  int64_t epochs = 1;
  int64_t batch_size = 128;
  /// Seed of the data order (each epoch's permutation). Initial weights and stochastic
  /// rounding draw from the global generator: call qtorch::manual_seed before building the model.
  uint64_t seed = 0;
  Device device = Device::cpu();
  OptimizerOptions optimizer{};
  Schedule schedule{};
  Averaging averaging{};
  int64_t eval_batch_size = 256;
  /// Evaluate the model before the first step (reported as epoch 0).
  bool evaluate_initial = false;
  /// nullopt (the default): evaluations round stochastically with draws from the global
  /// generator, as training does (and as PyTorch and QPyTorch do), so the test set and how
  /// often it is evaluated move the stream training draws from next. A seed: every
  /// evaluation (with the batch-norm pass before evaluating the averaged model) draws from
  /// Generator(seed) from offset 0 in the generator's place (a GeneratorGuard), so
  /// evaluating cannot change training, and an evaluation's result depends on the model and
  /// data alone (also while other threads draw).
  std::optional<uint64_t> evaluation_seed{};
  /// Measure the share of weights a step changes this many times per epoch, evenly spread
  /// (each costs a copy of the weights); >= the batches per epoch: every step; 0: never.
  int64_t update_fraction_samples = 4;
  /// End fit() with TrainingDiverged after an epoch that left a weight NaN or infinite, or
  /// (without a loss scaler, which skips such steps) whose mean training loss is not finite.
  bool stop_on_nan = true;
  ApplyOptions apply{};
  /// Data-parallel training over the communicator's processes (dist::world() under
  /// mpirun), when it has more than one: rank 0's weights are broadcast at the start; each
  /// rank trains on its shard of every global batch of batch_size * ranks items of the
  /// same shuffled order; the gradients are combined after backward and before the step
  /// (dist::GradientExchange, in the recipe's comm format); the epoch's training figures
  /// and counts are summed over ranks. Batch norm uses each rank's own batch statistics
  /// (its running statistics are rank 0's, broadcast after every epoch). Every rank holds
  /// the same weights, so save checkpoints from rank 0 only (rank()). null: one process.
  std::shared_ptr<dist::Communicator> communicator = nullptr;
};

/// One epoch's figures.
struct EpochMetrics {
  int64_t epoch = 0;  ///< from 1; 0 for the evaluation before training
  double train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = 0;
  double seconds = 0, samples_per_second = 0, lr = 0;
  /// Mean share of weight elements changed by the sampled steps.
  std::optional<double> update_fraction{};
  /// This epoch's counts per role (only the counted roles are nonzero).
  std::array<QuantCounts, kNumRoles> counts{};
  std::optional<double> loss_scale{};  ///< at the end of the epoch, with loss scaling
  int64_t skipped_steps = 0;           ///< in the whole run so far
  Score test{};                          ///< the test figures with their counts
  std::optional<Score> averaged_test{};  ///< with Averaging::evaluate_each_epoch
  /// Data-parallel only: the bytes each rank sent per step (mean over the epoch's steps),
  /// and the gradient elements exchanged per step.
  std::optional<double> comm_bytes_per_step{};
  int64_t comm_elements_per_step = 0;
};

/// Thrown by Trainer::fit when training diverged (TrainerOptions::stop_on_nan), with the
/// figures of the epoch that diverged (on_epoch is not called for it). Nothing is
/// checkpointed after a diverged epoch.
class TrainingDiverged : public std::runtime_error {
 public:
  TrainingDiverged(const std::string& what, EpochMetrics metrics) : std::runtime_error(what), metrics_(std::move(metrics)) {}
  int64_t epoch() const { return metrics_.epoch; }
  const EpochMetrics& metrics() const { return metrics_; }

 private:
  EpochMetrics metrics_;
};

/// What each step did (for per-step diagnostics).
struct StepInfo {
  int64_t step = 0;  ///< from 0, over the whole run
  /// Weight elements the step changed, when it was sampled (TrainerOptions::update_fraction_samples).
  std::optional<int64_t> changed{};
  int64_t total_weights = 0;
  bool skipped = false;  ///< overflow: the loss scaler skipped it
  std::optional<double> loss_scale{};  ///< after the step
};

/// The whole run.
struct TrainResult {
  std::vector<EpochMetrics> epochs;
  Score test{};                  ///< the final model
  std::optional<Score> averaged_test{};  ///< the averaged model, when it averaged anything
  int64_t averaged_snapshots = 0;
  int64_t steps = 0;
};

struct TrainerCallbacks {
  /// After every epoch, with that epoch's figures.
  std::function<void(const EpochMetrics&)> on_epoch = nullptr;
  /// After every batch: the epoch, the batches done and per epoch, and the running score
  /// (reading its loss waits for the device, so do it only now and then).
  std::function<void(int64_t epoch, int64_t done, int64_t batches, const RunningScore& score)> on_batch = nullptr;
  std::function<void(const StepInfo&)> on_step = nullptr;
};

class Trainer {
 public:
  /// Applies `recipe` to `model` (see apply_recipe; the model moves to options.device) and
  /// builds the optimizer, schedule, loss scaler and weight averaging.
  Trainer(const nn::ModulePtr& model, const Recipe& recipe, const TrainerOptions& options);

  /// Trains from the epoch after the last one done up to options.epochs, evaluating on
  /// `test` after each epoch; then evaluates the averaged model (recomputing batch-norm
  /// statistics on `train` first when it has batch norm).
  /// On a GPU both data sets are copied to it once per call, so batches are gathered and
  /// evaluated there (the same batches as on the CPU for the same seed).
  TrainResult fit(const data::Dataset& train, const data::Dataset& test, const TrainerCallbacks& callbacks = {});

  /// Mean loss and accuracy of `model` (default: the trained one) over `data`, in eval mode;
  /// nothing is counted meanwhile. Without options.evaluation_seed, quantizers that round
  /// stochastically draw from the global generator as in training, so a call moves the
  /// stream that training draws from next (fit's own evaluations are part of every run
  /// alike); with it, evaluations leave that stream alone.
  Score evaluate(const data::Dataset& data, nn::Module* model = nullptr);

  /// Saves everything training changes (model, optimizer state, loss scale, schedule,
  /// average, generator, epochs done), the recipe's text and the options that decide the
  /// run's numbers (optimizer, schedule, averaging, batch size, data seed, processes,
  /// training items), atomically. Call it between epochs (from on_epoch, or outside fit):
  /// during an epoch it throws qtorch::Error. Also throws, writing nothing, when a weight is
  /// NaN or infinite. For a continuation bit for bit identical to an uninterrupted run,
  /// save from on_epoch: fit's evaluations after its last epoch (of the averaged model)
  /// draw stochastic rounding from the global generator too (see evaluate).
  void save_checkpoint(const std::string& path, const std::map<std::string, std::string>& texts = {});
  /// Restores a checkpoint written by save_checkpoint with the same recipe and options
  /// (options.epochs may be larger); throws qtorch::Error naming the file and what differs
  /// when it was written with another recipe or other options, records no recipe, or is
  /// beyond options.epochs (nothing is changed then). The next fit checks that it gets as
  /// many training items as the checkpoint's run had.
  void resume(const std::string& path);

  nn::Module& model() { return *setup_.model; }
  const nn::ModulePtr& model_ptr() const { return setup_.model; }
  optim::Optimizer& optimizer() { return *setup_.optimizer; }
  const Recipe& recipe() const { return recipe_; }
  const TrainerOptions& options() const { return options_; }
  const QuantCounters& counters() const { return *setup_.counters; }
  /// The averaged model, or null without averaging.
  nn::ModulePtr averaged_model() const;
  optim::LossScaler* loss_scaler() { return scaler_.get(); }
  int64_t epochs_done() const { return epochs_done_; }
  /// The first entry of the training state (the model's parameters and buffers, the
  /// optimizer's state, the SWA average) holding a NaN or an infinity, named as in a
  /// checkpoint ("model/0.weight", "optim/acc.0"), or "" when all are finite: what
  /// save_checkpoint refuses, and what stop_on_nan stops on.
  std::string first_non_finite();
  /// Processes training together (1 without a communicator) and this one's rank.
  int ranks() const { return exchange_ ? exchange_->communicator().size() : 1; }
  int rank() const { return exchange_ ? exchange_->communicator().rank() : 0; }

 private:
  EpochMetrics train_epoch(const data::Dataset& train, const data::Dataset& test, const TrainerCallbacks& cb);
  void train_step(const data::Batch& batch, RunningScore& score, bool sample, const TrainerCallbacks& cb,
                  double& update_sum, int64_t& update_samples);
  /// Data-parallel: replaces the gradients by the global batch's (see TrainerOptions::communicator).
  void exchange_gradients(const data::Batch& batch);
  /// Data-parallel: sums this epoch's training score and counts over the ranks.
  void reduce_over_ranks(Score& trained, std::array<QuantCounts, kNumRoles>& counts);
  data::LoaderOptions loader_options(bool shuffle) const;
  Score evaluate_averaged(const data::Dataset& train, const data::Dataset& test);
  // evaluate() without choosing the generator (the callers above do).
  Score evaluate_with_current_generator(const data::Dataset& data, nn::Module* model);
  optim::TrainingState state();

  Recipe recipe_;
  TrainerOptions options_;
  LowPrecisionSetup setup_;
  std::unique_ptr<optim::LRScheduler> scheduler_;
  std::unique_ptr<optim::LossScaler> scaler_;
  std::unique_ptr<optim::SWA> swa_;
  std::unique_ptr<dist::GradientExchange> exchange_;  // data-parallel only
  int64_t comm_bytes_ = 0, comm_steps_ = 0, comm_elements_ = 0;  // this epoch's
  int64_t epochs_done_ = 0;
  int64_t epoch_in_progress_ = 0;  // the epoch whose batches are running; 0 between epochs
  int64_t steps_done_ = 0;
  std::optional<int64_t> train_items_;          // the training set fit last ran on
  std::optional<int64_t> resumed_train_items_;  // the one the resumed checkpoint's run used
  int64_t steps_per_epoch_ = 0;
  Score last_test_{};
};

}  // namespace qtorch::train
