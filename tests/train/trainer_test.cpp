// train::Trainer: the loop's mechanics on synthetic data, and figures pinned from the
// programs as they were before the trainer became library API (bit-identical losses).
#include "qtorch/train/trainer.h"

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <filesystem>

#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/core/threads.h"
#include "tests/support/error_of.h"
#include "tests/support/temp_dir.h"
#include "qtorch/train/models.h"

namespace qtorch::train {
namespace {

// 64 samples of 4 features in 2 linearly separable classes.
data::Dataset separable(int64_t n = 64) {
  std::vector<float> x, y;
  manual_seed(7);
  Tensor noise = randn({n, 4});
  std::vector<float> r = noise.to_vector();
  for (int64_t i = 0; i < n; ++i) {
    const float label = float(i % 2);
    for (int k = 0; k < 4; ++k) x.push_back(r[i * 4 + k] * 0.3f + (label == 1 ? 1.0f : -1.0f));
    y.push_back(label);
  }
  return {Tensor::from_vector(x, {n, 1, 2, 2}), Tensor::from_vector(y, {n}), 2};
}

TrainerOptions small_options(int64_t epochs) {
  return {.epochs = epochs, .batch_size = 16, .optimizer = {.lr = 0.1, .momentum = 0.9}, .eval_batch_size = 32};
}

TEST(Trainer, BadInputIsRefusedBeforeAnythingChanges) {
  // A weight format that does not fit a parameter (block dim 3 of a [2] bias) was found by the
  // first step, after the SGD update had changed the weights; now when the trainer is made.
  Recipe r = preset("fp32");
  r[Role::Weight] = parse_role_format("block:8:3", "nearest");
  try {
    Trainer t(models::mlp({4, 8, 2}), r, small_options(1));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("OptimLP: the weight quantizer does not fit parameter 0 of shape [8, 4]"),
              std::string::npos)
        << e.what();
  }
  manual_seed(1);
  Trainer t(models::mlp({4, 8, 2}), preset("fp32"), small_options(1));
  try {
    t.fit(data::Dataset{}, separable());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Trainer::fit: expected a training set with images and labels"),
              std::string::npos)
        << e.what();
  }
  // Evaluation that fails (labels past the model's 2 logits) gives the model its mode back.
  data::Dataset three = separable();
  three.labels = full({64}, 2.0f);
  three.num_classes = 3;
  t.model().train();
  EXPECT_THROW(t.evaluate(three), Error);
  EXPECT_TRUE(t.model().is_training());
}

TEST(Trainer, LearnsAndReportsEveryEpoch) {
  const data::Dataset d = separable();
  manual_seed(1);
  Trainer t(models::mlp({4, 8, 2}), preset("block8"), small_options(3));
  std::vector<int64_t> epochs;
  int64_t batches_seen = 0, steps_seen = 0;
  TrainResult r = t.fit(d, d, {.on_epoch = [&](const EpochMetrics& m) { epochs.push_back(m.epoch); },
                               .on_batch = [&](int64_t, int64_t, int64_t, const RunningScore&) { ++batches_seen; },
                               .on_step = [&](const StepInfo&) { ++steps_seen; }});
  EXPECT_EQ(epochs, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(batches_seen, 12);
  EXPECT_EQ(steps_seen, 12);
  EXPECT_EQ(r.steps, 12);
  EXPECT_GE(r.test.accuracy, 0.95);
  EXPECT_EQ(r.test.samples, 64);
  EXPECT_LT(r.epochs.back().train_loss, r.epochs.front().train_loss);
  ASSERT_TRUE(r.epochs[0].update_fraction.has_value());  // 4 samples per epoch, 4 batches
  EXPECT_GT(*r.epochs[0].update_fraction, 0.0);
  // block8 counts its error quantizers only.
  EXPECT_GT(r.epochs[0].counts[static_cast<int>(Role::Error)].numel, 0);
  EXPECT_EQ(r.epochs[0].counts[static_cast<int>(Role::Activation)].numel, 0);
  EXPECT_EQ(t.epochs_done(), 3);
  EXPECT_EQ(t.fit(d, d).epochs.size(), 0u);  // nothing left to train
}

TEST(Trainer, DynamicLossScalingSkipsOverflowingSteps) {
  const data::Dataset d = separable();
  manual_seed(1);
  Recipe r;
  r[Role::Error] = {FloatingPoint{.exp = 4, .man = 3, .range = FloatRange::IEEE, .subnormals = true,
                                  .saturate = true},
                    Rounding::Nearest};
  r.loss_scaling = {LossScaling::Kind::Dynamic, 1 << 20, 2000};  // saturates at once, backs off
  Trainer t(models::mlp({4, 8, 2}), r, small_options(8));
  int64_t skipped = 0;
  std::vector<double> scales;
  t.fit(d, d, {.on_step = [&](const StepInfo& s) {
                 skipped += s.skipped;
                 scales.push_back(*s.loss_scale);
               }});
  EXPECT_GE(skipped, 1);
  EXPECT_LT(skipped, static_cast<int64_t>(scales.size()));  // it backs off until steps are applied
  EXPECT_LT(scales.back(), 1 << 20);
  EXPECT_EQ(t.loss_scaler()->skipped_steps(), skipped);
}

TEST(Trainer, SaturationThatNoLossScaleCuresIsCountedButSkipsNoStep) {
  // An MX or block error saturates relative to its block's own scale, the same at any loss
  // scale: a scaler that took it for overflow skipped every step of mxfp8 down to its smallest
  // scale and trained nothing (the session-24 audit).
  const data::Dataset d = separable();
  for (const char* format : {"mxfp8", "block:4:0"}) {
    manual_seed(1);
    Recipe r;
    r[Role::Error] = parse_role_format(format, "nearest");
    r.loss_scaling = {LossScaling::Kind::Dynamic, 65536, 2000};
    Trainer t(models::mlp({4, 8, 2}), r, small_options(3));
    int64_t skipped = 0, steps = 0;
    const TrainResult res = t.fit(d, d, {.on_step = [&](const StepInfo& s) {
                                        skipped += s.skipped;
                                        ++steps;
                                      }});
    int64_t saturated = 0;
    for (const EpochMetrics& m : res.epochs) saturated += m.counts[static_cast<int>(Role::Error)].saturated;
    EXPECT_GT(saturated, 0) << format << ": the case this test is about";
    EXPECT_EQ(skipped, 0) << format;
    EXPECT_EQ(t.loss_scaler()->get_scale(), 65536.0) << format << ": never backed off";
    EXPECT_GE(res.test.accuracy, 0.9) << format;
  }
}

TEST(Trainer, PerStepAveragingAndInitialEvaluation) {
  const data::Dataset d = separable();
  manual_seed(1);
  TrainerOptions o = small_options(2);
  o.averaging = {.start_epoch = 2, .every_steps = 2, .evaluate_each_epoch = true};
  o.evaluate_initial = true;
  o.update_fraction_samples = 1000;  // every step
  Trainer t(models::mlp({4, 8, 2}), Recipe{}, o);
  int64_t sampled = 0;
  TrainResult r = t.fit(d, d, {.on_step = [&](const StepInfo& s) { sampled += s.changed.has_value(); }});
  ASSERT_EQ(r.epochs.size(), 3u);
  EXPECT_EQ(r.epochs[0].epoch, 0);
  EXPECT_FALSE(r.epochs[1].averaged_test.has_value());  // averaging starts with epoch 2
  EXPECT_TRUE(r.epochs[2].averaged_test.has_value());
  EXPECT_EQ(r.averaged_snapshots, 2);  // steps 4 and 6 of epoch 2's steps 4..7
  EXPECT_EQ(sampled, 8);
  ASSERT_TRUE(r.averaged_test.has_value());
}

// update_fraction_samples measures exactly that many steps per epoch, evenly spread (it
// sampled every max(1, batches / samples) steps: 5 of 10 for 4, and every one of 7 for 4).
// With evaluation_seed, evaluating (how often, on how much) cannot change training: without
// it, a test set of 1000 or 999 items gave other weights from epoch 2 under block8 (the s26
// data audit), as the evaluations' stochastic rounding drew from training's generator.
TEST(Trainer, AnEvaluationSeedKeepsEvaluationOutOfTraining) {
  const data::Dataset train = separable(64), test_a = separable(64), test_b = separable(37);
  auto run = [&](std::optional<uint64_t> evaluation_seed, const data::Dataset& test, bool initial) {
    manual_seed(1);
    TrainerOptions o = small_options(3);
    o.evaluation_seed = evaluation_seed;
    o.evaluate_initial = initial;
    o.averaging = {.start_epoch = 2};
    Trainer t(models::mlp({4, 8, 2}), preset("block8"), o);
    t.fit(train, test);
    std::vector<std::vector<float>> weights;
    for (const Tensor& p : t.model().parameters()) weights.push_back(p.to_vector());
    return std::pair{weights, default_generator().offset()};
  };
  const auto a = run(42, test_a, false), b = run(42, test_b, true);
  EXPECT_EQ(a.first, b.first);
  EXPECT_EQ(a.second, b.second);
  const auto c = run(std::nullopt, test_a, false), d = run(std::nullopt, test_b, true);
  EXPECT_NE(c.first, d.first);
  EXPECT_NE(c.second, d.second);
  // An evaluation's result depends on the model and data alone, and leaves the generator.
  manual_seed(1);
  TrainerOptions o = small_options(1);
  o.evaluation_seed = 42;
  Trainer t(models::mlp({4, 8, 2}), preset("block8"), o);
  const uint64_t offset = default_generator().offset();
  const Score first = t.evaluate(test_a), second = t.evaluate(test_a);
  EXPECT_EQ(first.loss, second.loss);
  EXPECT_EQ(default_generator().offset(), offset);
}

TEST(Trainer, UpdateFractionSamplesTheStepsItIsAskedFor) {
  for (auto [batches, asked, expected] : {std::tuple{10, 4, 4}, {7, 4, 4}, {12, 5, 5}, {3, 4, 3}, {4, 1, 1}, {5, 0, 0}}) {
    const data::Dataset d = separable(16 * batches);
    manual_seed(1);
    TrainerOptions o = small_options(1);
    o.update_fraction_samples = asked;
    Trainer t(models::mlp({4, 8, 2}), Recipe{}, o);
    std::vector<int64_t> sampled;
    t.fit(d, d, {.on_step = [&](const StepInfo& s) {
                   if (s.changed) sampled.push_back(s.step);
                 }});
    EXPECT_EQ(int64_t(sampled.size()), expected) << batches << " batches, " << asked << " asked";
    if (expected > 0) {
      EXPECT_EQ(sampled.back(), batches - 1) << "the last step is one of them";
    }
  }
}

TEST(Trainer, CheckpointResumesBitIdentically) {
  const data::Dataset d = separable();
  qtorch::testing::TempDir dir("trainer_ckpt");
  const std::string path = dir.file("run.ckpt");
  manual_seed(5);
  Trainer whole(models::mlp({4, 8, 2}), preset("block8"), small_options(2));
  const TrainResult all = whole.fit(d, d);

  manual_seed(5);
  TrainerOptions one = small_options(2);
  one.epochs = 1;
  Trainer first(models::mlp({4, 8, 2}), preset("block8"), one);
  first.fit(d, d);
  first.save_checkpoint(path);
  manual_seed(99);  // the checkpoint restores the generator
  Trainer second(models::mlp({4, 8, 2}), preset("block8"), small_options(2));
  second.resume(path);
  EXPECT_EQ(second.epochs_done(), 1);
  const TrainResult rest = second.fit(d, d);
  ASSERT_EQ(rest.epochs.size(), 1u);
  EXPECT_EQ(rest.epochs[0].train_loss, all.epochs[1].train_loss);
  EXPECT_EQ(rest.test.loss, all.test.loss);

  Trainer other(models::mlp({4, 8, 2}), preset("fp32"), small_options(2));
  try {
    other.resume(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("was trained with the recipe 'weight=block:8:0 stochastic"), std::string::npos)
        << e.what();
  }
  Trainer shorter(models::mlp({4, 8, 2}), preset("block8"), small_options(0));
  EXPECT_THROW(shorter.resume(path), Error);
}

using qtorch::testing::error_of;

TEST(RunningScore, RefusesLogitsOfAnotherBatchThanTheLabels) {
  // Logits [4, 3] against labels [1] broadcast in the comparison and scored 4 of 1 (audit s29).
  RunningScore score(Device::cpu());
  EXPECT_EQ(error_of([&] { score.add(zeros({}), zeros({4, 3}), zeros({1})); }),
            "RunningScore::add: expected a loss of one element, logits [N, C] and labels [N], got [], [4, 3] and [1]");
  score.add(ones({}), Tensor::from_vector({0, 1, 1, 0}, {2, 2}), Tensor::from_vector({1, 1}, {2}));
  EXPECT_EQ(score.read().accuracy, 0.5);
}

TEST(Trainer, ResumeRefusesACheckpointOfOtherOptions) {
  const data::Dataset d = separable();
  qtorch::testing::TempDir dir("trainer_options");
  const std::string path = dir.file("run.ckpt");
  const auto cosine = [](int64_t epochs) {
    TrainerOptions o = small_options(epochs);
    o.schedule = parse_schedule("cosine");
    return o;
  };
  manual_seed(5);
  Trainer first(models::mlp({4, 8, 2}), preset("block8"), cosine(2));
  first.fit(d, d, {.on_epoch = [&](const EpochMetrics& m) {
              if (m.epoch == 1) first.save_checkpoint(path);
            }});
  auto resume_with = [&](const std::function<void(TrainerOptions&)>& change) {
    TrainerOptions other = cosine(2);
    change(other);
    Trainer t(models::mlp({4, 8, 2}), preset("block8"), other);
    return error_of([&] { t.resume(path); });
  };
  EXPECT_EQ(resume_with([](TrainerOptions&) {}), "");
  EXPECT_NE(resume_with([](TrainerOptions& x) { x.optimizer.kind = "adam"; })
                .find("was trained with optimizer sgd lr=0.1 momentum=0.9 weight_decay=0, this trainer has optimizer "
                      "adam lr=0.1 weight_decay=0"),
            std::string::npos);
  EXPECT_NE(resume_with([](TrainerOptions& x) { x.schedule = {}; }).find("schedule cosine, this trainer has schedule constant"),
            std::string::npos);
  EXPECT_NE(resume_with([](TrainerOptions& x) { x.batch_size = 8; }).find("batch_size 16"), std::string::npos);
  EXPECT_NE(resume_with([](TrainerOptions& x) { x.seed = 3; }).find("data_seed 0"), std::string::npos);
  EXPECT_NE(resume_with([](TrainerOptions& x) { x.averaging.start_epoch = 2; }).find("averaging off"), std::string::npos);
  // More epochs would stretch the cosine schedule, whose length they are, mid-run.
  EXPECT_NE(resume_with([](TrainerOptions& x) { x.epochs = 3; }).find("cosine_epochs 2, this trainer has cosine_epochs 3"),
            std::string::npos);
  EXPECT_NE(resume_with([](TrainerOptions& x) { x.evaluation_seed = 7; })
                .find("evaluation shared with training, this trainer has evaluation isolated"),
            std::string::npos);
  // The same options, but fewer training items than the run had: refused by fit.
  Trainer t(models::mlp({4, 8, 2}), preset("block8"), cosine(2));
  t.resume(path);
  EXPECT_NE(error_of([&] { t.fit(separable(32), d); }).find("was trained on 64 items, this call gives 32"),
            std::string::npos);
  // A file without the recipe (the lower-level optim::save_checkpoint's) is refused too.
  optim::CheckpointData data = optim::read_checkpoint(path);
  data.texts.clear();
  optim::write_checkpoint(dir.file("bare.ckpt"), data);
  Trainer u(models::mlp({4, 8, 2}), preset("block8"), small_options(3));
  EXPECT_NE(error_of([&] { u.resume(dir.file("bare.ckpt")); }).find("records no recipe"), std::string::npos);
  // A folder is no checkpoint.
  EXPECT_NE(error_of([&] { u.resume(dir.str()); }).find("got a folder"), std::string::npos);
}

// A checkpoint holds whole epochs: saving during one is refused. A trainer that trained past
// a checkpoint and resumes it counts its steps from the checkpoint, as a fresh one does.
TEST(Trainer, CheckpointsAreOfWholeEpochsAndRollBackCountsStepsFromThem) {
  const data::Dataset d = separable();
  qtorch::testing::TempDir dir("trainer_epochs");
  const std::string path = dir.file("e1.ckpt");
  manual_seed(5);
  TrainerOptions o = small_options(2);
  o.averaging = {.start_epoch = 1, .every_steps = 3};
  Trainer t(models::mlp({4, 8, 2}), preset("block8"), o);
  std::string during;
  std::vector<int64_t> steps;
  t.fit(d, d, {.on_epoch = [&](const EpochMetrics& m) {
                 if (m.epoch == 1) t.save_checkpoint(path);
               },
               .on_batch = [&](int64_t, int64_t done, int64_t, const RunningScore&) {
                 if (done == 2 && during.empty()) during = error_of([&] { t.save_checkpoint(dir.file("mid.ckpt")); });
               }});
  EXPECT_NE(during.find("expected a call between epochs (from on_epoch, or outside fit), got one during epoch 1"),
            std::string::npos)
      << during;
  EXPECT_FALSE(std::filesystem::exists(dir.file("mid.ckpt")));

  manual_seed(99);
  Trainer fresh(models::mlp({4, 8, 2}), preset("block8"), o);
  fresh.resume(path);
  const TrainResult a = fresh.fit(d, d);
  t.resume(path);  // rolls back from epoch 2
  const TrainResult b = t.fit(d, d, {.on_step = [&](const StepInfo& s) { steps.push_back(s.step); }});
  EXPECT_EQ(b.steps, a.steps);
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.front(), 4);  // 64 items in batches of 16: epoch 2 starts at step 4
  ASSERT_TRUE(a.averaged_test && b.averaged_test);
  EXPECT_EQ(b.averaged_test->loss, a.averaged_test->loss);
  EXPECT_EQ(b.test.loss, a.test.loss);
}

TEST(Trainer, StopsWhenTrainingDivergesAndNeverCheckpointsNanWeights) {
  const data::Dataset d = separable();
  qtorch::testing::TempDir dir("trainer_nan");
  manual_seed(1);
  TrainerOptions o = small_options(3);
  o.optimizer.lr = 1e30;
  Trainer t(models::mlp({4, 8, 2}), Recipe{}, o);
  std::vector<int64_t> reported;
  try {
    t.fit(d, d, {.on_epoch = [&](const EpochMetrics& m) { reported.push_back(m.epoch); }});
    FAIL() << "expected TrainingDiverged";
  } catch (const TrainingDiverged& e) {
    EXPECT_EQ(e.epoch(), 1);
    EXPECT_NE(std::string(e.what()).find("training diverged in epoch 1"), std::string::npos) << e.what();
    EXPECT_EQ(e.metrics().epoch, 1);  // the diverged epoch's figures travel with the exception
    EXPECT_GT(e.metrics().lr, 1e29);
  }
  EXPECT_TRUE(reported.empty());  // the diverged epoch is not reported as a normal one
  EXPECT_THROW(t.save_checkpoint(dir.file("nan.ckpt")), Error);
  EXPECT_FALSE(std::filesystem::exists(dir.file("nan.ckpt")));

  manual_seed(1);
  o.stop_on_nan = false;
  Trainer on(models::mlp({4, 8, 2}), Recipe{}, o);
  EXPECT_EQ(on.fit(d, d).epochs.size(), 3u);  // trains on
}

TEST(Trainer, RejectsBadOptions) {
  // Options field by field: g++ 12 warns (falsely: -Wmaybe-uninitialized) on the designated form.
  TrainerOptions no_batch;
  no_batch.batch_size = 0;
  EXPECT_THROW(Trainer(models::mlp({4, 2}), Recipe{}, no_batch), Error);
  TrainerOptions rmsprop;
  rmsprop.optimizer.kind = "rmsprop";
  EXPECT_THROW(Trainer(models::mlp({4, 2}), Recipe{}, rmsprop), Error);
  EXPECT_THROW(parse_schedule("step:0:0.5"), Error);
  EXPECT_THROW(parse_schedule("swalp:10"), Error);
  EXPECT_THROW(parse_schedule("step:2:1.5"), Error);
  for (const char* bad : {"step: 1:0.5", "step:0x1:0.5", "step:1:+0.5", "step:1:0.5 ", "cosine:"})
    EXPECT_THROW(parse_schedule(bad), Error) << bad;
  EXPECT_EQ(parse_schedule("swalp:10:0.2"), (Schedule{Schedule::Kind::Swalp, 10, 0.2}));
  EXPECT_EQ(to_string(parse_schedule("step:3:0.5")), "step:3:0.5");
}

// Figures of `qtrain --model mlp --limit-train 3000 --limit-test 1000 --threads 2 ...`
// written by qtrain before it was rebuilt on train::Trainer (commit 565936a): the library
// must reproduce them to the last bit.
class PinnedFigures : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(std::string(data::kFashionMnistDir) + "/train-images-idx3-ubyte.gz"))
      GTEST_SKIP() << "Fashion-MNIST is not installed (scripts/install-deps.sh installs it)";
    train_ = data::load_mnist(data::kFashionMnistDir, data::Split::Train, {.limit = 3000});
    test_ = data::load_mnist(data::kFashionMnistDir, data::Split::Test, {.limit = 1000});
    set_num_threads(2);
  }
  TrainResult run(const std::string& preset_name, int64_t epochs, Schedule schedule = {}, int64_t swa_start = 0) {
    manual_seed(0);
    TrainerOptions o;  // (designated initialisers here trip a false -Wmaybe-uninitialized in g++ 12)
    o.epochs = epochs;
    o.schedule = schedule;
    o.averaging.start_epoch = swa_start;
    Trainer t(models::mlp({784, 256, 256, 10}), preset(preset_name), o);
    return t.fit(train_, test_);
  }
  data::Dataset train_, test_;
};

TEST_F(PinnedFigures, MlpFp32) {
  TrainResult r = run("fp32", 2);
  EXPECT_EQ(r.epochs[0].train_loss, 1.8627677408854166);
  EXPECT_EQ(r.epochs[0].test_loss, 1.03927587890625);
  EXPECT_EQ(r.epochs[1].test_loss, 0.8413544311523438);
  EXPECT_EQ(r.test.accuracy, 0.714);
  EXPECT_EQ(r.epochs[1].update_fraction, 0.9879837146612606);
}

TEST_F(PinnedFigures, MlpBlock8) {
  TrainResult r = run("block8", 2);
  EXPECT_EQ(r.epochs[0].train_loss, 1.8668561197916667);
  EXPECT_EQ(r.epochs[1].train_loss, 1.0296212565104166);
  EXPECT_EQ(r.epochs[1].test_loss, 0.9164945068359375);
  EXPECT_EQ(r.test.accuracy, 0.64);
  EXPECT_EQ(r.epochs[0].update_fraction, 0.24387443283504504);
}

TEST_F(PinnedFigures, MlpFp8WithDynamicLossScaling) {
  TrainResult r = run("fp8", 2);
  EXPECT_EQ(r.epochs[0].test_loss, 1.0686773681640624);
  EXPECT_EQ(r.epochs[1].train_loss, 0.9832931315104166);
  EXPECT_EQ(r.epochs[1].test_loss, 0.799999755859375);
  EXPECT_EQ(r.epochs[1].loss_scale, 65536.0);
}

TEST_F(PinnedFigures, MlpBlock8StepScheduleAndSwa) {
  TrainResult r = run("block8", 3, parse_schedule("step:1:0.5"), 2);
  EXPECT_EQ(r.epochs[1].train_loss, 0.9655664876302084);
  EXPECT_EQ(r.epochs[2].test_loss, 0.7422469482421875);
  EXPECT_EQ(r.epochs[2].lr, 0.0125);
  ASSERT_TRUE(r.averaged_test.has_value());
  EXPECT_EQ(r.averaged_test->accuracy, 0.69);
}

}  // namespace
}  // namespace qtorch::train
