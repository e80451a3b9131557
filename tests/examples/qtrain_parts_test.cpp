// Unit tests of qtrain's parts: option syntaxes, the preset table, option checks, the
// metrics file and duration formatting.
#include <gtest/gtest.h>

#ifdef QTRAIN_PATH
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "examples/qtrain/cli.h"
#include "examples/qtrain/metrics.h"
#include "examples/qtrain/placement.h"
#include "examples/qtrain/presets.h"
#include "examples/qtrain/progress.h"
#include "examples/qtrain/plot.h"
#include "examples/qtrain/quant_setup.h"
#include "examples/qtrain/resume_check.h"
#include "examples/qtrain/text_specs.h"
#include "tests/examples/qtrain_runner.h"

namespace qtrain {
namespace {

TEST(QtrainParts, ParsesSchedules) {
  EXPECT_EQ(parse_schedule("constant").kind, ScheduleSpec::Constant);
  EXPECT_EQ(parse_schedule("cosine").kind, ScheduleSpec::Cosine);
  ScheduleSpec s = parse_schedule("step:3:0.5");
  EXPECT_EQ(s.kind, ScheduleSpec::Step);
  EXPECT_EQ(s.step_every, 3);
  EXPECT_DOUBLE_EQ(s.gamma, 0.5);
  for (const char* bad : {"", "linear", "step", "step:0:0.5", "step:2", "step:2:0", "step:2:1.5",
                          "step:1.5:0.5", "step:x:0.5", "step:2:0.5:1"})
    EXPECT_THROW(parse_schedule(bad), std::invalid_argument) << bad;
}

TEST(QtrainParts, ParsesLossScales) {
  EXPECT_EQ(parse_loss_scale("").kind, LossScaleSpec::None);
  EXPECT_EQ(parse_loss_scale("none").kind, LossScaleSpec::None);
  LossScaleSpec d = parse_loss_scale("dynamic");
  EXPECT_EQ(d.kind, LossScaleSpec::Dynamic);
  EXPECT_DOUBLE_EQ(d.scale, 65536.0);
  LossScaleSpec s = parse_loss_scale("static:128");
  EXPECT_EQ(s.kind, LossScaleSpec::Static);
  EXPECT_DOUBLE_EQ(s.scale, 128.0);
  EXPECT_DOUBLE_EQ(parse_loss_scale("dynamic:1024").scale, 1024.0);
  for (const char* bad : {"static", "static:", "static:0", "static:-2", "static:inf", "dyn", "static:1:2"})
    EXPECT_THROW(parse_loss_scale(bad), std::invalid_argument) << bad;
}

TEST(QtrainParts, EveryPresetParses) {
  ASSERT_GE(presets().size(), 6u);
  for (const Preset& p : presets()) {
    Config c;
    c.formats = p.formats;
    c.loss_scale = p.loss_scale;
    EXPECT_NO_THROW(QuantSetup{c}) << p.name;
    EXPECT_NO_THROW(check_config(c)) << p.name;
    EXPECT_FALSE(p.summary.empty());
  }
  EXPECT_EQ(find_preset("block8").formats[static_cast<int>(Role::Activation)].format, "block:8:0");
  Config fp32;
  fp32.formats = find_preset("fp32").formats;
  EXPECT_FALSE(QuantSetup(fp32).quantizes_model());
  EXPECT_FALSE(QuantSetup(fp32).quantizes_optimizer());
  EXPECT_FALSE(fp32.low_precision());
  EXPECT_THROW(find_preset("fp4"), std::invalid_argument);
}

TEST(QtrainParts, QuantSetupNamesTheOption) {
  Config c;
  c.format(Role::Momentum).format = "float:9:99";
  try {
    QuantSetup{c};
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--momentum-format: ", 0), 0u) << e.what();
  }
  Config r;
  r.format(Role::Grad).rounding = "up-ish";
  try {
    QuantSetup{r};
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--grad-rounding: ", 0), 0u) << e.what();
  }
}

// The diagnostics (flush and saturation shares) are the error quantizers' alone: the
// activation and optimizer quantizers do not count.
TEST(QtrainParts, StatsCountOnlyTheErrorQuantizers) {
  Config c;
  for (Role r : kRoles) c.format(r) = {"fixed:4:2", "nearest"};
  QuantSetup setup(c);
  // Forward: 3.0 saturates (activation); backward: 0.1 flushes, 100 saturates (error).
  std::shared_ptr<qtorch::nn::Module> q = setup.quantizer_factory()();
  qtorch::Tensor x = qtorch::Tensor::from_vector({0.5f, 3.0f, 1.0f}, {3}).requires_grad_();
  q->forward(x).backward(qtorch::Tensor::from_vector({0.1f, 100.0f, 0.25f}, {3}));
  // The optimizer's weight quantizer: 5.0 saturates, 0.01 flushes; neither is counted.
  qtorch::Tensor w = qtorch::Tensor::from_vector({5.0f, 0.01f}, {2});
  setup.optim_options().weight_quant(w);
  std::optional<qtorch::QuantStats> s = setup.take_stats();
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->numel, 3);
  EXPECT_EQ(s->clamped, 1);  // the error 100
  EXPECT_EQ(s->flushed, 1);  // the error 0.1 (below half of 0.25)
  EXPECT_EQ(w.to_vector(), (std::vector<float>{1.75f, 0.0f}));  // it did quantize
  EXPECT_FALSE(setup.take_stats().has_value());                 // taking resets
}

TEST(QtrainParts, ErrorSaturationReachesTheLossScalerSink) {
  // fixed:4:2 saturates at 1.75: a gradient of 100 must be reported, 0.5 must not.
  Config c;
  for (Role r : kRoles) c.format(r) = {"fp32", "nearest"};
  c.format(Role::Error) = {"fixed:4:2", "nearest"};
  QuantSetup setup(c);
  std::vector<int64_t> reported;
  qtorch::nn::QuantizerFactory factory = setup.quantizer_factory();
  setup.on_error_saturation([&](int64_t n) { reported.push_back(n); });  // set after: still seen
  std::shared_ptr<qtorch::nn::Module> q = factory();
  qtorch::Tensor x = qtorch::Tensor::from_vector({1.0f, 2.0f, 3.0f}, {3}).requires_grad_();
  q->forward(x).backward(qtorch::Tensor::from_vector({0.5f, 100.0f, -100.0f}, {3}));
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0], 2);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0.5f, 1.75f, -2.0f}));
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

// --compare reads only whole epochs >= 1 and finite numbers, naming the file and field.
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
  EXPECT_EQ(error_of(R"("epoch": 1)"), m + ": epochs[0].train_loss: expected a finite number, got none");
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
  c.formats = find_preset(preset).formats;
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
  other_rounding.format(Role::Weight).rounding = "nearest";
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
  every_layer.quantize_after = "linear,conv,normalization,activation,pooling";
  EXPECT_EQ(error_of(every_layer),
            "--resume: run.ckpt was trained with --quantize-after linear,conv,normalization, this run uses "
            "--quantize-after linear,conv,normalization,activation,pooling");
  checkpoint.texts.erase("qtrain/quantize_after");  // before --quantize-after: its default
  EXPECT_EQ(error_of(then), "accepted");
  EXPECT_EQ(error_of(every_layer).rfind("--resume: run.ckpt was trained with --quantize-after linear,conv,normalization,", 0), 0u);
  checkpoint.texts.clear();  // an older qtrain's checkpoint
  EXPECT_EQ(error_of(then).rfind("warning: --resume: run.ckpt records no model or number formats", 0), 0u);
}

TEST(QtrainParts, ParsesQuantizeAfter) {
  using K = qtorch::nn::LayerKind;
  EXPECT_EQ(parse_quantize_after("linear,conv"), (std::vector<K>{K::Linear, K::Conv}));
  EXPECT_EQ(parse_quantize_after("pooling"), (std::vector<K>{K::Pooling}));
  EXPECT_EQ(parse_quantize_after("all"),
            (std::vector<K>{K::Linear, K::Conv, K::Normalization, K::Activation, K::Pooling}));
  EXPECT_EQ(quantize_after_text(parse_quantize_after("activation,conv,linear")), "linear,conv,activation");
  EXPECT_EQ(quantize_after_text(parse_quantize_after(kDefaultQuantizeAfter)), kDefaultQuantizeAfter);
  auto error_of = [](const std::string& text) {
    try {
      parse_quantize_after(text);
      return std::string("accepted");
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
  };
  const std::string expected =
      "--quantize-after: expected a comma-separated list of linear, conv, normalization, activation, pooling, or all, got ";
  EXPECT_EQ(error_of("relu"), expected + "'relu' in 'relu'");
  EXPECT_EQ(error_of("linear,Conv"), expected + "'Conv' in 'linear,Conv'");
  EXPECT_EQ(error_of(""), expected + "'' (an empty kind)");
  EXPECT_EQ(error_of("linear,"), expected + "'linear,' (an empty kind)");
  EXPECT_EQ(error_of("all,linear"), expected + "'all' in 'all,linear'");
  EXPECT_EQ(error_of("conv,linear,conv"), "--quantize-after: 'conv' is named twice in 'conv,linear,conv'");
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
