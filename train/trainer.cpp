// The training loop.
#include "qtorch/train/trainer.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/data/loader.h"
#include "qtorch/autograd/loss.h"
#include "qtorch/optim/adam.h"
#include "qtorch/optim/checkpoint.h"
#include "qtorch/optim/sgd.h"
#include "qtorch/train/text_parsing.h"

namespace qtorch::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr const char* kRecipeKey = "qtorch/recipe";

using text::exact;

// The options besides the recipe that decide a run's numbers, as the texts a checkpoint
// records under "qtorch/run/NAME": a resumed run must continue with them. Not among them:
// epochs (a run may be extended) unless they are a cosine schedule's length, the device, the
// evaluation seed's value (an isolated evaluation leaves training alone; a shared one does
// not, so which of the two is recorded), and what is only reported.
std::vector<std::pair<std::string, std::string>> run_options(const TrainerOptions& o, int ranks) {
  const OptimizerOptions& opt = o.optimizer;
  std::string optimizer = opt.kind + " lr=" + exact(opt.lr);
  if (opt.kind == "sgd") optimizer += " momentum=" + exact(opt.momentum);
  optimizer += " weight_decay=" + exact(opt.weight_decay);
  const Averaging& avg = o.averaging;
  const std::string averaging =
      avg.start_epoch == 0 ? "off"
                           : "from epoch " + std::to_string(avg.start_epoch) +
                                 (avg.every_steps > 0 ? ", every " + std::to_string(avg.every_steps) + " steps"
                                                      : ", every epoch");
  std::vector<std::pair<std::string, std::string>> options = {
      {"optimizer", optimizer},
      {"schedule", to_string(o.schedule)},
      {"averaging", averaging},
      {"batch_size", std::to_string(o.batch_size)},
      {"data_seed", std::to_string(o.seed)},
      {"processes", std::to_string(ranks)},
      {"evaluation", o.evaluation_seed ? "isolated (evaluation_seed)" : "shared with training"}};
  if (o.schedule.kind == Schedule::Kind::Cosine) options.emplace_back("cosine_epochs", std::to_string(o.epochs));
  return options;
}

std::string run_key(const std::string& name) { return "qtorch/run/" + name; }
constexpr const char* kTrainItemsKey = "qtorch/run/train_items";

bool has_batchnorm(nn::Module& model) {
  for (auto& [name, m] : model.named_modules())
    if (m->layer_kind() == nn::LayerKind::Normalization) return true;
  return false;
}

// Weight elements that differ between the live parameters and a snapshot.
int64_t changed_elements(const std::vector<Tensor>& params, const std::vector<Tensor>& before) {
  NoGradGuard no_grad;
  double changed = 0;
  for (size_t i = 0; i < params.size(); ++i) changed += sum(ne(params[i], before[i])).item();
  return static_cast<int64_t>(changed);
}

}  // namespace

std::shared_ptr<optim::Optimizer> make_optimizer(const OptimizerOptions& o, const std::vector<Tensor>& params) {
  if (o.kind == "sgd")
    return std::make_shared<optim::SGD>(params, optim::SGDOptions{.lr = o.lr, .momentum = o.momentum,
                                                                  .weight_decay = o.weight_decay});
  if (o.kind == "adam")
    return std::make_shared<optim::Adam>(params, optim::AdamOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  if (o.kind == "adamw")
    return std::make_shared<optim::AdamW>(params, optim::AdamWOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  QTORCH_FAIL("optimizer: expected sgd, adam or adamw, got '{}'", o.kind);
}

Schedule parse_schedule(const std::string& text, const std::string& what) {
  if (text == "constant") return {};
  if (text == "cosine") return {Schedule::Kind::Cosine, 0, 1.0};
  const std::vector<std::string> p = text::split(text, ':');
  if (p.size() == 3 && (p[0] == "step" || p[0] == "swalp")) {
    const bool step = p[0] == "step";
    double every = 0, factor = 0;
    QTORCH_CHECK(text::read_finite(p[1], every) && every >= 1 && every <= 1e6 && every == std::floor(every),
                 "{} {}: {}: expected an integer in [1, 1000000], got '{}'", what, text, step ? "EVERY" : "EPOCHS", p[1]);
    QTORCH_CHECK(text::read_finite(p[2], factor) && factor > 0 && factor <= 1, "{} {}: {}: expected a number in (0, 1], got '{}'",
                 what, text, step ? "GAMMA" : "RATIO", p[2]);
    return {step ? Schedule::Kind::Step : Schedule::Kind::Swalp, static_cast<int64_t>(every), factor};
  }
  QTORCH_FAIL("{}: expected constant, cosine, step:EVERY:GAMMA or swalp:EPOCHS:RATIO (EVERY, EPOCHS integers in "
              "[1, 1000000] epochs, 0 < GAMMA, RATIO <= 1), got '{}'",
              what, text);
}

std::string to_string(const Schedule& s) {
  switch (s.kind) {
    case Schedule::Kind::Constant: return "constant";
    case Schedule::Kind::Cosine: return "cosine";
    case Schedule::Kind::Step: return fmt::format("step:{}:{}", s.every, s.factor);
    case Schedule::Kind::Swalp: return fmt::format("swalp:{}:{}", s.every, s.factor);
  }
  return "?";
}

Trainer::Trainer(const nn::ModulePtr& model, const Recipe& recipe, const TrainerOptions& options)
    : recipe_(recipe), options_(options) {
  const TrainerOptions& o = options_;
  QTORCH_CHECK(o.epochs >= 0, "Trainer: expected epochs >= 0, got {}", o.epochs);
  QTORCH_CHECK(o.batch_size >= 1 && o.eval_batch_size >= 1, "Trainer: expected batch sizes >= 1, got {} and {}",
               o.batch_size, o.eval_batch_size);
  QTORCH_CHECK(o.averaging.start_epoch >= 0 && o.averaging.every_steps >= 0,
               "Trainer: expected averaging start_epoch >= 0 and every_steps >= 0, got {} and {}",
               o.averaging.start_epoch, o.averaging.every_steps);
  setup_ = apply_recipe(recipe, model, [&](const std::vector<Tensor>& params) {
    return make_optimizer(o.optimizer, params);
  }, o.apply);
  setup_.model->to(o.device);

  optim::Optimizer& opt = *setup_.optimizer;
  switch (o.schedule.kind) {
    case Schedule::Kind::Constant: break;
    case Schedule::Kind::Cosine:
      scheduler_ = std::make_unique<optim::CosineAnnealingLR>(opt, std::max<int64_t>(o.epochs, 1));
      break;
    case Schedule::Kind::Step:
      scheduler_ = std::make_unique<optim::StepLR>(opt, o.schedule.every, o.schedule.factor);
      break;
    case Schedule::Kind::Swalp:
      scheduler_ = std::make_unique<optim::SWALPScheduleLR>(opt, o.schedule.every, o.schedule.factor);
      break;
  }
  const LossScaling& ls = recipe.loss_scaling;
  if (ls.kind == LossScaling::Kind::Static || ls.kind == LossScaling::Kind::Dynamic) {
    scaler_ = std::make_unique<optim::LossScaler>(optim::LossScalerOptions{
        .init_scale = ls.scale, .dynamic = ls.kind == LossScaling::Kind::Dynamic, .growth_interval = ls.growth_interval});
    OverflowChannel::connect(setup_.overflow, *scaler_);
  }
  if (o.averaging.start_epoch > 0)
    swa_ = std::make_unique<optim::SWA>(setup_.model, 0, std::max<int64_t>(o.averaging.every_steps, 1));
  if (o.communicator && o.communicator->size() > 1) {
    // Ranks launched with other options would exchange gradients of other shapes or in
    // other formats (garbage, a crash or a hang): refuse that first, on every rank.
    std::vector<std::pair<std::string, std::string>> items = {
        {"recipe", to_string(recipe)},
        {"seed", std::to_string(o.seed)},
        {"batch size", std::to_string(o.batch_size)},
        {"optimizer", fmt::format("{} lr {} momentum {} weight decay {}", o.optimizer.kind, o.optimizer.lr,
                                  o.optimizer.momentum, o.optimizer.weight_decay)},
        {"schedule", to_string(o.schedule)},
        {"epochs", std::to_string(o.epochs)}};
    const auto named = setup_.model->named_parameters();
    for (const auto& [name, p] : named) items.emplace_back("shape of parameter " + name, shape_str(p.shape()));
    dist::check_same_on_every_rank(*o.communicator, items, "data-parallel training");
    exchange_ = std::make_unique<dist::GradientExchange>(
        o.communicator, dist::ExchangeOptions{.number = recipe.comm.number,
                                              .rounding = recipe.comm.rounding,
                                              .error_feedback = recipe.comm_error_feedback,
                                              .seed = o.seed ^ 0xc0117e5ee0ull,
                                              .overflow_skips_step = scaler_ != nullptr});
    exchange_->broadcast(setup_.model->parameters());
    exchange_->broadcast(setup_.model->buffers());
  }
}

data::LoaderOptions Trainer::loader_options(bool shuffle) const {
  return {.batch_size = options_.batch_size, .shuffle = shuffle, .seed = options_.seed, .device = options_.device,
          .shard = rank(), .shards = ranks()};
}

void Trainer::exchange_gradients(const data::Batch& batch) {
  const double weight = batch.global_size > 0 ? double(batch.size) / double(batch.global_size) : 0.0;
  const int64_t overflow = setup_.overflow ? setup_.overflow->take() : 0;
  const dist::ExchangeStats stats = exchange_->exchange(setup_.optimizer->parameters(), weight, overflow,
                                                        scaler_ ? scaler_->get_scale() : 1.0);
  // A rank with a smaller share of the last global batch drew fewer random bits: from here
  // on (the optimizer's quantizers) every rank draws the same ones and keeps equal weights.
  dist::align_generator(exchange_->communicator(), default_generator());
  if (stats.total_count > 0 && setup_.overflow) setup_.overflow->report(stats.total_count);
  comm_bytes_ += stats.bytes_sent;
  comm_elements_ = stats.elements;
  ++comm_steps_;
}

void Trainer::reduce_over_ranks(Score& trained, std::array<QuantCounts, kNumRoles>& counts) {
  std::vector<double> sums = {trained.loss * double(trained.samples), double(trained.correct), double(trained.samples)};
  for (const QuantCounts& c : counts)
    for (int64_t v : {c.numel, c.nonzero, c.flushed, c.saturated}) sums.push_back(double(v));
  exchange_->communicator().all_reduce_sum(sums.data(), sums.size());
  trained.samples = static_cast<int64_t>(sums[2]);
  trained.correct = static_cast<int64_t>(sums[1]);
  trained.loss = trained.samples > 0 ? sums[0] / double(trained.samples) : 0.0;
  trained.accuracy = trained.samples > 0 ? double(trained.correct) / double(trained.samples) : 0.0;
  size_t at = 3;
  for (QuantCounts& c : counts) {
    c.numel = static_cast<int64_t>(sums[at++]);
    c.nonzero = static_cast<int64_t>(sums[at++]);
    c.flushed = static_cast<int64_t>(sums[at++]);
    c.saturated = static_cast<int64_t>(sums[at++]);
  }
}

nn::ModulePtr Trainer::averaged_model() const { return swa_ ? swa_->averaged_model() : nullptr; }

namespace {

// With a seed, this thread's default generator is Generator(seed) from offset 0 for the
// scope's life (TrainerOptions::evaluation_seed); training's, and other threads', are left
// alone.
class EvaluationStream {
 public:
  explicit EvaluationStream(const std::optional<uint64_t>& seed) : generator_(seed.value_or(0)) {
    if (seed) guard_.emplace(generator_);
  }

 private:
  Generator generator_;
  std::optional<GeneratorGuard> guard_;
};

}  // namespace

Score Trainer::evaluate(const data::Dataset& data, nn::Module* model) {
  EvaluationStream stream(options_.evaluation_seed);
  return evaluate_with_current_generator(data, model);
}

Score Trainer::evaluate_with_current_generator(const data::Dataset& data, nn::Module* model) {
  const bool was_paused = setup_.counters->paused();
  setup_.counters->pause(true);
  Score s = train::evaluate(model ? *model : *setup_.model, data, options_.eval_batch_size, options_.device);
  setup_.counters->pause(was_paused);
  return s;
}

void Trainer::train_step(const data::Batch& batch, RunningScore& score, bool sample, const TrainerCallbacks& cb,
                         double& update_sum, int64_t& update_samples) {
  optim::Optimizer& opt = *setup_.optimizer;
  // A rank whose share of a small last global batch is empty only takes part in the exchange.
  const bool local = batch.size > 0;
  Tensor logits = local ? (*setup_.model)(batch.images) : Tensor();
  Tensor loss = local ? cross_entropy(logits, batch.labels) : zeros({});
  opt.zero_grad();
  std::vector<Tensor> before;
  if (sample) {
    NoGradGuard no_grad;
    for (const Tensor& p : opt.parameters()) before.push_back(p.clone());
  }
  Tensor scaled = loss;
  if (recipe_.loss_scaling.kind == LossScaling::Kind::Multiplier)
    scaled = loss * static_cast<float>(recipe_.loss_scaling.scale);
  StepInfo info;
  info.step = steps_done_;
  if (scaler_) {
    if (local) scaler_->scale(scaled).backward();
    if (exchange_) exchange_gradients(batch);
    info.skipped = !scaler_->step(opt);
    info.loss_scale = scaler_->get_scale();
  } else {
    if (local) scaled.backward();
    if (exchange_) exchange_gradients(batch);
    opt.step();
  }
  if (sample) {
    std::vector<Tensor> params = opt.parameters();
    for (const Tensor& p : params) info.total_weights += p.numel();
    info.changed = changed_elements(params, before);
    update_sum += info.total_weights > 0 ? double(*info.changed) / double(info.total_weights) : 0.0;
    ++update_samples;
  }
  if (local) score.add(loss, logits, batch.labels);
  const Averaging& avg = options_.averaging;
  if (swa_ && avg.every_steps > 0) {
    const int64_t start = (avg.start_epoch - 1) * steps_per_epoch_;
    if (steps_done_ >= start) swa_->update(steps_done_ - start);
  }
  if (cb.on_step) cb.on_step(info);
  ++steps_done_;
}

EpochMetrics Trainer::train_epoch(const data::Dataset& train, const data::Dataset& test, const TrainerCallbacks& cb) {
  const int64_t epoch = epochs_done_ + 1;
  struct InEpoch {  // set while the epoch's batches run, also when one throws
    int64_t& flag;
    InEpoch(int64_t& f, int64_t e) : flag(f) { flag = e; }
    ~InEpoch() { flag = 0; }
  } in_epoch(epoch_in_progress_, epoch);
  data::DataLoader loader(train, loader_options(true));
  loader.reset(epoch - 1);
  const int64_t batches = loader.num_batches();
  // Steps i whose floor((i + 1) samples / batches) moves on: exactly min(samples, batches)
  // of them, evenly spread, the last step included.
  const int64_t samples = std::min(options_.update_fraction_samples, batches);
  double update_sum = 0;
  int64_t update_samples = 0;
  std::array<QuantCounts, kNumRoles> counts_before;
  for (Role r : kRoles) counts_before[static_cast<int>(r)] = setup_.counters->total(r);

  EpochMetrics m;
  m.epoch = epoch;
  m.lr = setup_.optimizer->lr();
  setup_.model->train();
  RunningScore score(options_.device);
  const Clock::time_point t0 = Clock::now();
  comm_bytes_ = comm_steps_ = 0;
  data::Batch batch;
  while (loader.next(batch)) {
    const bool sample = samples > 0 && (batch.index + 1) * samples / batches != batch.index * samples / batches;
    train_step(batch, score, sample, cb, update_sum, update_samples);
    if (cb.on_batch) cb.on_batch(epoch, batch.index + 1, batches, score);
  }
  in_epoch.flag = 0;  // every step of the epoch is done
  Score trained = score.read();  // waits for the device
  for (Role r : kRoles) m.counts[static_cast<int>(r)] = setup_.counters->total(r) - counts_before[static_cast<int>(r)];
  if (exchange_) {
    reduce_over_ranks(trained, m.counts);
    exchange_->broadcast(setup_.model->buffers());  // batch norm: rank 0's running statistics
    m.comm_bytes_per_step = comm_steps_ > 0 ? double(comm_bytes_) / double(comm_steps_) : 0.0;
    m.comm_elements_per_step = comm_elements_;
  }
  m.seconds = seconds_since(t0);
  m.train_loss = trained.loss;
  m.train_accuracy = trained.accuracy;
  m.samples_per_second = m.seconds > 0 ? double(trained.samples) / m.seconds : 0;
  if (update_samples > 0) m.update_fraction = update_sum / double(update_samples);
  if (scaler_) {
    m.loss_scale = scaler_->get_scale();
    m.skipped_steps = scaler_->skipped_steps();
  }
  const Averaging& avg = options_.averaging;
  if (swa_ && avg.every_steps == 0 && epoch >= avg.start_epoch) swa_->update(epoch - avg.start_epoch);
  const Score tested = evaluate(test);
  m.test_loss = tested.loss;
  m.test_accuracy = tested.accuracy;
  m.test = tested;
  last_test_ = tested;
  if (swa_ && avg.evaluate_each_epoch && swa_->count() > 0) m.averaged_test = evaluate_averaged(train, test);
  return m;
}

Score Trainer::evaluate_averaged(const data::Dataset& train, const data::Dataset& test) {
  EvaluationStream stream(options_.evaluation_seed);
  nn::ModulePtr avg = swa_->averaged_model();
  if (has_batchnorm(*avg)) {
    NoGradGuard no_grad;
    optim::update_bn(*avg, [&](const std::function<void(const Tensor&)>& run_batch) {
      data::DataLoader loader(train, {.batch_size = options_.batch_size, .shuffle = false, .device = options_.device});
      data::Batch b;
      while (loader.next(b)) run_batch(b.images);
    });
  }
  return evaluate_with_current_generator(test, avg.get());
}

TrainResult Trainer::fit(const data::Dataset& train_given, const data::Dataset& test_given,
                         const TrainerCallbacks& cb) {
  QTORCH_CHECK(train_given.images.defined() && train_given.labels.defined(),
               "Trainer::fit: expected a training set with images and labels, got an empty Dataset");
  // On a GPU the data sets move there once: batches are gathered and evaluated on the device.
  const data::Dataset train = train_given.to(options_.device), test = test_given.to(options_.device);
  TrainResult result;
  if (exchange_)  // each rank takes its shard of the same global batches: the same data sizes
    dist::check_same_on_every_rank(exchange_->communicator(),
                                   {{"number of training items", std::to_string(train.size())},
                                    {"number of test items", std::to_string(test.size())},
                                    {"epochs done", std::to_string(epochs_done_)}},
                                   "data-parallel training");
  {
    data::DataLoader probe(train, loader_options(false));
    steps_per_epoch_ = probe.num_batches();
  }
  // The steps of the epochs done, also after a resume of an earlier checkpoint.
  steps_done_ = epochs_done_ * steps_per_epoch_;
  QTORCH_CHECK(!resumed_train_items_ || *resumed_train_items_ == train.size(),
               "Trainer::fit: the checkpoint resumed was trained on {} items, this call gives {}: a resumed run "
               "continues on the data it was trained on",
               resumed_train_items_.value_or(0), train.size());
  train_items_ = train.size();
  if (options_.evaluate_initial && epochs_done_ == 0) {
    EpochMetrics m0;
    const Score s = evaluate(test);
    m0.test_loss = s.loss;
    m0.test_accuracy = s.accuracy;
    m0.test = s;
    m0.lr = setup_.optimizer->lr();
    if (scaler_) m0.loss_scale = scaler_->get_scale();
    result.epochs.push_back(m0);
    if (cb.on_epoch) cb.on_epoch(m0);
  }
  while (epochs_done_ < options_.epochs) {
    EpochMetrics m = train_epoch(train, test, cb);
    if (options_.stop_on_nan) {
      const std::string bad = first_non_finite();
      if (!bad.empty())
        throw TrainingDiverged(fmt::format("training diverged in epoch {}: '{}' holds NaN or infinite values (mean "
                                           "training loss {})",
                                           m.epoch, bad, m.train_loss),
                               m);
      if (!scaler_ && !std::isfinite(m.train_loss))
        throw TrainingDiverged(fmt::format("training diverged in epoch {}: the mean training loss is {} (some "
                                           "batch gave a non-finite loss; a loss scaler would skip such steps)",
                                           m.epoch, m.train_loss),
                               m);
    }
    if (scheduler_) scheduler_->step();
    epochs_done_ = m.epoch;
    result.epochs.push_back(m);
    if (cb.on_epoch) cb.on_epoch(m);
  }
  if (!result.epochs.empty() && result.epochs.back().epoch == options_.epochs && options_.epochs > 0) {
    result.test = last_test_;
  } else {
    result.test = evaluate(test);
  }
  if (swa_ && swa_->count() > 0) {
    result.averaged_test = evaluate_averaged(train, test);
    result.averaged_snapshots = swa_->count();
  }
  result.steps = steps_done_;
  return result;
}

optim::TrainingState Trainer::state() {
  return {.model = setup_.model.get(),
          .optimizer = setup_.optimizer.get(),
          .scaler = scaler_.get(),
          .scheduler = scheduler_.get(),
          .swa = swa_.get(),
          .step = &epochs_done_};
}

std::string Trainer::first_non_finite() {
  optim::TrainingState s = state();
  s.rng = false;
  return optim::first_non_finite_entry(optim::checkpoint_data(s));
}

void Trainer::save_checkpoint(const std::string& path, const std::map<std::string, std::string>& texts) {
  QTORCH_CHECK(epoch_in_progress_ == 0,
               "save_checkpoint: expected a call between epochs (from on_epoch, or outside fit), got one during "
               "epoch {}: a checkpoint holds whole epochs, and a resume would train this one's first steps again",
               epoch_in_progress_);
  std::map<std::string, std::string> all = texts;
  all[kRecipeKey] = to_string(recipe_);
  for (const auto& [name, value] : run_options(options_, ranks())) all[run_key(name)] = value;
  if (train_items_) all[kTrainItemsKey] = std::to_string(*train_items_);
  optim::TrainingState s = state();
  s.texts = &all;
  optim::save_checkpoint(path, s);
}

void Trainer::resume(const std::string& path) {
  const optim::CheckpointData data = optim::read_checkpoint(path);
  auto recipe = data.texts.find(kRecipeKey);
  QTORCH_CHECK(recipe != data.texts.end(),
               "resume: '{}' records no recipe (written by optim::save_checkpoint, or by a qtorch before recipes "
               "were recorded), so nothing shows that this trainer continues its run; load it with "
               "optim::load_checkpoint instead",
               path);
  if (recipe->second != to_string(recipe_))
    QTORCH_FAIL("resume: '{}' was trained with the recipe '{}', this run uses '{}'", path, recipe->second,
                to_string(recipe_));
  // Checkpoints from before these were recorded are not checked.
  std::string then, now;
  for (const auto& [name, value] : run_options(options_, ranks())) {
    auto it = data.texts.find(run_key(name));
    if (it == data.texts.end() || it->second == value) continue;
    then += (then.empty() ? "" : "; ") + name + " " + it->second;
    now += (now.empty() ? "" : "; ") + name + " " + value;
  }
  if (!then.empty())
    QTORCH_FAIL("resume: '{}' was trained with {}, this trainer has {}: a resumed run continues with the options it "
                "was trained with",
                path, then, now);
  std::optional<int64_t> train_items;
  if (auto it = data.texts.find(kTrainItemsKey); it != data.texts.end()) {
    int64_t n = 0;
    auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), n);
    QTORCH_CHECK(ec == std::errc() && end == it->second.data() + it->second.size() && n > 0,
                 "resume: '{}': expected a positive count in '{}', got '{}'", path, kTrainItemsKey, it->second);
    train_items = n;
  }
  auto step = data.integers.find("step");
  QTORCH_CHECK(step != data.integers.end(), "resume: '{}': expected an entry 'step' (the epochs done), got none", path);
  QTORCH_CHECK(step->second >= 0 && step->second <= options_.epochs,
               "resume: '{}' is at epoch {}, expected an epoch in [0, {}] (the trainer's epochs)", path, step->second,
               options_.epochs);
  optim::restore_checkpoint(data, path, state());
  resumed_train_items_ = train_items;
}

}  // namespace qtorch::train
