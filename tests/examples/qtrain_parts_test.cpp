// Unit tests of qtrain's parts: option syntaxes, the preset table, option checks, the
// metrics file and duration formatting.
#include <gtest/gtest.h>

#ifdef QTRAIN_PATH
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>

#include "examples/qtrain/cli.h"
#include "examples/qtrain/metrics.h"
#include "examples/qtrain/progress.h"
#include "examples/qtrain/plot.h"
#include "examples/qtrain/resume_check.h"
#include "tests/examples/qtrain_runner.h"

namespace qtrain {
namespace {

// The option names replace the library's function names in qtrain's messages.
TEST(QtrainParts, RecipeErrorsNameTheOption) {
  for (auto [args, prefix] : {std::pair{std::vector<std::string>{"--momentum-format", "float:9:99"}, "--momentum-format: "},
                              {{"--grad-rounding", "up-ish"}, "--grad-rounding: "},
                              {{"--preset", "fp4"}, "--preset: unknown preset 'fp4'"},
                              {{"--loss-scale", "static:0"}, "--loss-scale: "},
                              {{"--quantize-after", "linear,banana"}, "--quantize-after: "},
                              {{"--schedule", "step:0:1"}, "--schedule step:0:1: EVERY: "},
                              {{"--preset", "fp32", "--grad-rounding", "stochastic"}, "--grad-rounding: the grad role stays float32"}}) {
    std::vector<std::string> argv_text = {"qtrain"};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    Config c;
    ::testing::internal::CaptureStderr();
    EXPECT_EQ(parse_command_line(static_cast<int>(argv.size()), argv.data(), c), std::optional<int>(2));
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(err.rfind(std::string("qtrain: error: ") + prefix, 0), 0u) << err;
  }
}

TEST(QtrainParts, EveryPresetPassesTheChecks) {
  for (const qtorch::train::Preset& p : qtorch::train::presets()) {
    Config c;
    c.recipe = p.recipe;
    EXPECT_NO_THROW(check_config(c)) << p.name;
  }
  Config lenet;
  lenet.recipe[Role::Activation] = {qtorch::BlockFloatingPoint{.wl = 8, .dim = 2}, qtorch::Rounding::Nearest};
  EXPECT_THROW(check_config(lenet), std::invalid_argument);  // 2-D activations after linear layers
}

TEST(QtrainParts, CheckConfigRanges) {
  Config ok;
  EXPECT_NO_THROW(check_config(ok));
  auto rejects = [](auto change) {
    Config c;
    change(c);
    EXPECT_THROW(check_config(c), std::invalid_argument);
  };
  rejects([](Config& c) { c.epochs = -1; });
  rejects([](Config& c) { c.batch_size = 0; });
  rejects([](Config& c) { c.lr = 0; });
  rejects([](Config& c) { c.momentum = 1.0; });
  rejects([](Config& c) { c.weight_decay = -1; });
  rejects([](Config& c) { c.threads = -2; });
  rejects([](Config& c) { c.limit_train = 0; });
  rejects([](Config& c) { c.limit_test = -5; });
  rejects([](Config& c) { c.model = "vgg"; });
  rejects([](Config& c) { c.optimizer = "rmsprop"; });
  rejects([](Config& c) { c.metrics_path = "out.txt"; });
  rejects([](Config& c) { c.plot_path = "out.pdf"; });
  rejects([](Config& c) { c.swa_start = 0; });
}

TEST(QtrainParts, MetricsRoundTripAndAtomicWrite) {
  testing::TempDir dir("metrics_unit");
  RunMetrics m;
  m.config = config_to_json(Config{});
  EpochRecord e{.epoch = 1, .train_loss = 0.5, .train_accuracy = 0.8, .test_loss = 0.45,
                .test_accuracy = 0.83, .seconds = 2.0, .samples_per_second = 30000, .lr = 0.05};
  e.update_fraction = 0.25;
  m.epochs.push_back(e);
  m.final = FinalRecord{.test_accuracy = 0.83, .test_loss = 0.45, .total_seconds = 3, .peak_rss_mb = 200};
  std::string path = dir.file("m.json");
  write_json_atomically(path, to_json(m));
  RunMetrics back = read_metrics(path);
  EXPECT_EQ(back.config["model"], "lenet");
  EXPECT_EQ(back.config["formats"]["weight"]["format"], "fp32");
  ASSERT_EQ(back.epochs.size(), 1u);
  EXPECT_EQ(back.epochs[0].epoch, 1);
  EXPECT_DOUBLE_EQ(back.epochs[0].test_accuracy, 0.83);
  EXPECT_DOUBLE_EQ(*back.epochs[0].update_fraction, 0.25);
  EXPECT_FALSE(back.epochs[0].flush_fraction.has_value());
  ASSERT_TRUE(back.final.has_value());
  EXPECT_DOUBLE_EQ(back.final->peak_rss_mb, 200);
  // Only the file itself is left in the folder: the temporary was renamed over it.
  int files = 0;
  for (auto& entry : std::filesystem::directory_iterator(dir.str())) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);

  std::ofstream(dir.file("bad.json")) << "{\"epochs\": 3}";
  EXPECT_THROW(read_metrics(dir.file("bad.json")), std::runtime_error);
  std::ofstream(dir.file("broken.json")) << "{\"epochs\": [";
  EXPECT_THROW(read_metrics(dir.file("broken.json")), std::runtime_error);
  EXPECT_THROW(read_metrics(dir.file("missing.json")), std::runtime_error);
  EXPECT_THROW(write_json_atomically(dir.file("no/such/dir/m.json"), to_json(m)), std::runtime_error);
}

// --compare reads only whole epochs >= 1 in order, accuracies in [0, 1], losses >= 0 and finite
// numbers, naming the file and field.
TEST(QtrainParts, MetricsNumbersAreChecked) {
  testing::TempDir dir("metrics_numbers");
  auto error_of = [&](const std::string& epoch_fields, const std::string& final_fields = "") {
    std::string path = dir.file("m.json");
    std::ofstream(path) << "{\"epochs\": [{" << epoch_fields << "}]" << final_fields << "}";
    try {
      read_metrics(path);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const std::string rest = R"("train_loss": 1, "train_accuracy": 0.5, "test_loss": 1, "test_accuracy": 0.5)";
  const std::string m = dir.file("m.json");
  EXPECT_EQ(error_of(R"("epoch": 1.7, )" + rest), m + ": epochs[0].epoch: expected an integer >= 1, got 1.7");
  EXPECT_EQ(error_of(R"("epoch": 1e300, )" + rest), m + ": epochs[0].epoch: expected an integer >= 1, got 1e+300");
  EXPECT_EQ(error_of(R"("epoch": 0, )" + rest), m + ": epochs[0].epoch: expected an integer >= 1, got 0");
  EXPECT_EQ(error_of(R"("epoch": 18446744073709551615, )" + rest),
            m + ": epochs[0].epoch: expected an integer >= 1, got 18446744073709551615");
  EXPECT_EQ(error_of(R"("epoch": "x", )" + rest), m + ": epochs[0].epoch: expected an integer >= 1, got \"x\"");
  EXPECT_EQ(error_of(R"("epoch": 1)"),
            m + ": epochs[0].train_loss: expected a number >= 0 or \"nan\", \"inf\", \"-inf\", got none");
  EXPECT_EQ(error_of(R"("epoch": 1, "train_loss": "x", "train_accuracy": 0.5, "test_loss": 1, "test_accuracy": 0.5)"),
            m + ": epochs[0].train_loss: expected a number >= 0 or \"nan\", \"inf\", \"-inf\", got \"x\"");
  EXPECT_EQ(error_of(R"("epoch": 1, "train_loss": 1, "train_accuracy": 0.5, "test_loss": -3, "test_accuracy": 0.5)"),
            m + ": epochs[0].test_loss: expected a number >= 0 or \"nan\", \"inf\", \"-inf\", got -3");
  EXPECT_EQ(error_of(R"("epoch": 1, "train_loss": 1, "train_accuracy": null, "test_loss": 1, "test_accuracy": 0.5)"),
            m + ": epochs[0].train_accuracy: expected a number in [0, 1], got null");
  EXPECT_EQ(error_of(R"("epoch": 1, "train_loss": 1, "train_accuracy": 7, "test_loss": 1, "test_accuracy": 0.5)"),
            m + ": epochs[0].train_accuracy: expected a number in [0, 1], got 7");
  EXPECT_EQ(error_of(R"("epoch": 1, "train_loss": 1, "train_accuracy": 0.5, "test_loss": 1, "test_accuracy": -0.5)"),
            m + ": epochs[0].test_accuracy: expected a number in [0, 1], got -0.5");
  EXPECT_EQ(error_of(R"("epoch": 2, )" + rest + R"(}, {"epoch": 1, )" + rest),
            m + ": epochs[1].epoch: expected an epoch after 2 (the records in order), got 1");
  EXPECT_EQ(error_of(R"("epoch": 1, )" + rest, R"(, "final": {"test_accuracy": 1.5})"),
            m + ": final.test_accuracy: expected a number in [0, 1], got 1.5");
  EXPECT_EQ(error_of(R"("epoch": 1, "seconds": "x", )" + rest), m + ": epochs[0].seconds: expected a finite number, got \"x\"");
  EXPECT_EQ(error_of(R"("epoch": 1, "loss_scale": [1], )" + rest),
            m + ": epochs[0].loss_scale: expected a finite number, got [1]");
  EXPECT_EQ(error_of(R"("epoch": 1, )" + rest, R"(, "final": 3)"), m + ": final: expected an object, got 3");
  EXPECT_EQ(error_of(R"("epoch": 1, )" + rest, R"(, "final": {"test_accuracy": 0.5, "peak_rss_mb": "x"})"),
            m + ": final.peak_rss_mb: expected a finite number, got \"x\"");
  EXPECT_EQ(error_of(R"("epoch": 2, )" + rest), "accepted");
  std::ofstream(m) << R"({"epochs": [5]})";
  EXPECT_THROW(read_metrics(m), std::runtime_error);
}

// A diverged epoch's losses (NaN, inf) are written as "nan", "inf", "-inf" and read back, so
// --compare and --resume can read every file qtrain writes; null (what JSON libraries write
// for NaN) reads as NaN.
TEST(QtrainParts, NonFiniteLossesRoundTrip) {
  testing::TempDir dir("metrics_nan");
  RunMetrics m;
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  m.epochs.push_back(EpochRecord{.epoch = 1, .train_loss = nan, .train_accuracy = 0.1, .test_loss = inf,
                                 .test_accuracy = 0.1});
  m.epochs.push_back(EpochRecord{.epoch = 2, .train_loss = -inf, .train_accuracy = 0.1, .test_loss = 2.5,
                                 .test_accuracy = 0.1});
  m.final = FinalRecord{.test_accuracy = 0.1, .test_loss = nan};
  const std::string path = dir.file("m.json");
  write_json_atomically(path, to_json(m));
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(R"("train_loss": "nan")"), std::string::npos) << text;
  EXPECT_EQ(text.find("null"), std::string::npos) << text;
  const RunMetrics back = read_metrics(path);
  ASSERT_EQ(back.epochs.size(), 2u);
  EXPECT_TRUE(std::isnan(back.epochs[0].train_loss));
  EXPECT_EQ(back.epochs[0].test_loss, inf);
  EXPECT_EQ(back.epochs[1].train_loss, -inf);
  EXPECT_EQ(back.epochs[1].test_loss, 2.5);
  EXPECT_TRUE(std::isnan(back.final->test_loss));
  std::ofstream(path) << R"({"epochs": [{"epoch": 1, "train_loss": null, "train_accuracy": 0.1,
                              "test_loss": 1, "test_accuracy": 0.1}]})";
  EXPECT_TRUE(std::isnan(read_metrics(path).epochs[0].train_loss));
}

// A file nested far deeper than a metrics file is refused by the parser with a message, not
// copied until the stack runs out (100 000 levels crashed --compare and --resume).
TEST(QtrainParts, DeeplyNestedMetricsAreRefused) {
  testing::TempDir dir("metrics_deep");
  const std::string path = dir.file("deep.json");
  const int depth = 100000;
  std::ofstream(path) << R"({"epochs": [], "config": )" << std::string(depth, '[') << std::string(depth, ']') << "}";
  try {
    read_metrics(path);
    ADD_FAILURE() << "accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": not a qtrain metrics file (nested deeper than 32 levels)");
  }
}

TEST(QtrainParts, GnuplotStringsRejectControlCharacters) {
  EXPECT_EQ(qtorch::examples::gnuplot_string("it's"), "'it''s'");
  EXPECT_THROW(qtorch::examples::gnuplot_string("a\nsystem 'touch x'"), std::invalid_argument);
  EXPECT_THROW(qtorch::examples::gnuplot_string(std::string("a\x7f")), std::invalid_argument);
  try {
    check_plot_path("x.svg\nsystem \"touch pwned\"\nset output \"y.svg");
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--plot: expected text without control characters, got "
                                         "'x.svg?system \"touch pwned\"?set output \"y.svg' (byte 0x0a at position 5)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(check_plot_path("it's \"q\".svg"));
}

// The checks before resuming: same model and formats, an epoch within [0, --epochs].
// A configuration of `model` with the formats of `preset`.
Config config_of(const std::string& model, const std::string& preset) {
  Config c;
  c.model = model;
  c.preset = preset;
  c.recipe = qtorch::train::preset(preset);
  return c;
}

TEST(QtrainParts, ResumeChecksIdentityAndEpoch) {
  Config then = config_of("mlp", "bf16");
  qtorch::optim::CheckpointData checkpoint;
  checkpoint.texts = run_identity(then);
  checkpoint.integers["step"] = 1;
  auto error_of = [&](Config now) {
    now.resume_path = "run.ckpt";
    try {
      std::string warning;
      check_resumable(checkpoint, now, &warning);
      return warning.empty() ? std::string("accepted") : "warning: " + warning;
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
  };
  EXPECT_EQ(error_of(then), "accepted");
  EXPECT_EQ(error_of(config_of("mlp", "fixed16")),
            "--resume: run.ckpt was trained with --preset bf16 (model mlp), this run uses --preset fixed16");
  EXPECT_EQ(error_of(config_of("cnn", "bf16")),
            "--resume: run.ckpt was trained with --preset bf16 (model mlp), this run uses --preset bf16 (model cnn)");
  Config other_rounding = then;
  other_rounding.recipe[Role::Weight].rounding = qtorch::Rounding::Nearest;
  EXPECT_EQ(error_of(other_rounding),
            "--resume: run.ckpt was trained with --preset bf16 with weight bf16 stochastic (model mlp), this run "
            "uses --preset bf16 with weight bf16 nearest");
  Config one_epoch = then;
  one_epoch.epochs = 1;
  checkpoint.integers["step"] = 3;
  EXPECT_EQ(error_of(one_epoch), "--resume: run.ckpt is at epoch 3, beyond --epochs 1");
  checkpoint.integers["step"] = -5;
  EXPECT_EQ(error_of(then), "--resume: run.ckpt: entry 'step': expected an epoch >= 0, got -5");
  checkpoint.integers["step"] = INT64_MAX;
  EXPECT_EQ(error_of(then), "--resume: run.ckpt is at epoch 9223372036854775807, beyond --epochs 2");
  checkpoint.integers["step"] = 1;
  Config every_layer = then;
  every_layer.recipe.quantize_after = qtorch::train::parse_layer_kinds("all");
  EXPECT_EQ(error_of(every_layer),
            "--resume: run.ckpt was trained with --quantize-after linear,conv,normalization, this run uses "
            "--quantize-after linear,conv,normalization,activation,pooling");
  checkpoint.texts.erase("qtrain/quantize_after");  // before --quantize-after: its default
  EXPECT_EQ(error_of(then), "accepted");
  EXPECT_EQ(error_of(every_layer).rfind("--resume: run.ckpt was trained with --quantize-after linear,conv,normalization,", 0), 0u);
  checkpoint.texts.clear();  // an older qtrain's checkpoint
  EXPECT_EQ(error_of(then).rfind("warning: --resume: run.ckpt records no model or number formats", 0), 0u);
}

// A resumed run continues the one that wrote the checkpoint: other training options (they
// were ignored, or mixed with the checkpoint's state, while the metrics recorded the new
// values) are refused, naming each with both values. Threads, test limit, outputs and a
// larger --epochs may change.
TEST(QtrainParts, ResumeChecksTheTrainingOptions) {
  Config then = config_of("mlp", "fp32");
  then.seed = 7;
  then.swa_start = 2;
  then.epochs = 3;
  qtorch::optim::CheckpointData checkpoint;
  checkpoint.texts = run_identity(then);
  checkpoint.integers["step"] = 1;
  auto error_of = [&](Config now) {
    now.resume_path = "run.ckpt";
    try {
      check_resumable(checkpoint, now, nullptr);
      return std::string("accepted");
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
  };
  Config free = then;
  free.threads = 1;
  free.limit_test = 100;
  free.epochs = 5;
  free.metrics_path = "other.json";
  EXPECT_EQ(error_of(free), "accepted");
  Config lr = then;
  lr.lr = 0.5;
  EXPECT_EQ(error_of(lr), "--resume: run.ckpt was trained with --lr 0.05, this run gives --lr 0.5: a resumed run "
                          "continues with the options it was trained with");
  Config several = then;
  several.seed = 8;
  several.batch_size = 32;
  several.normalize = true;
  several.swa_start = -1;
  several.schedule = "cosine";
  several.limit_train = 100;
  EXPECT_EQ(error_of(several),
            "--resume: run.ckpt was trained with --schedule constant --seed 7 --batch-size 128 --limit-train all "
            "--normalize off --swa-start 2, this run gives --schedule cosine --seed 8 --batch-size 32 --limit-train "
            "100 --normalize on --swa-start off: a resumed run continues with the options it was trained with");
  // Evaluations that share training's stream change training; isolated ones do not.
  Config isolated = then;
  isolated.isolated_evaluation = true;
  EXPECT_EQ(error_of(isolated), "--resume: run.ckpt was trained with --isolated-evaluation off, this run gives "
                                "--isolated-evaluation on: a resumed run continues with the options it was trained with");
  // Under the cosine schedule --epochs is its length: a longer run would bend it mid-run.
  Config cosine = then;
  cosine.schedule = "cosine";
  checkpoint.texts = run_identity(cosine);
  Config longer = cosine;
  longer.epochs = 5;
  EXPECT_EQ(error_of(longer), "--resume: run.ckpt was trained with --epochs 3 (the cosine schedule's length), this "
                              "run gives --epochs 5 (the cosine schedule's length): a resumed run continues with the "
                              "options it was trained with");
  EXPECT_EQ(error_of(cosine), "accepted");
}

TEST(QtrainParts, FormatsDurations) {
  EXPECT_EQ(format_duration(0), "0:00");
  EXPECT_EQ(format_duration(65), "1:05");
  EXPECT_EQ(format_duration(3725), "1:02:05");
  EXPECT_EQ(format_duration(-3), "0:00");
}

}  // namespace
}  // namespace qtrain
#endif  // QTRAIN_PATH
