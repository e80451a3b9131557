// End-to-end runs of qtrain on a few hundred images: the metrics file, falling loss,
// low-precision runs, checkpoint and resume, comparing and plotting.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>

#include "tests/examples/qtrain_runner.h"

#ifdef QTRAIN_PATH
namespace qtrain::testing {
namespace {

using nlohmann::json;

std::vector<std::string> small_run(const std::string& data, const std::string& model,
                                   const std::string& preset, int epochs) {
  return {"--data-dir", data, "--model", model, "--preset", preset, "--epochs",
          std::to_string(epochs), "--limit-train", "512", "--limit-test", "256", "--batch-size",
          "32", "--seed", "1", "--threads", "1"};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

json read_json(const std::string& path) { return json::parse(read_text(path)); }

TEST(QtrainEndToEnd, TrainsAndWritesMetrics) {
  TempDir dir("metrics");
  std::string data = training_data_dir(dir);
  std::string metrics = dir.file("mlp.json");
  RunResult r = run_qtrain(small_run(data, "mlp", "fp32", 3) + std::vector<std::string>{"--metrics", metrics}, dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("test accuracy"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epoch 3/3"), std::string::npos) << r.out;
  // stderr is not a terminal here: plain progress lines, no carriage returns.
  EXPECT_EQ(r.err.find('\r'), std::string::npos);

  json m = read_json(metrics);
  EXPECT_EQ(m["config"]["model"], "mlp");
  EXPECT_EQ(m["config"]["preset"], "fp32");
  EXPECT_EQ(m["config"]["batch_size"], 32);
  EXPECT_EQ(m["config"]["formats"]["weight"]["format"], "fp32");
  // The images actually used: --limit-test 256 beyond the synthetic folder's 200 takes 200.
  EXPECT_EQ(m["config"]["train_images"], 512);
  EXPECT_EQ(m["config"]["limit_test"], 256);
  EXPECT_EQ(m["config"]["test_images"], data == "/usr/share/datasets/fashion-mnist" ? 256 : 200);
  ASSERT_EQ(m["epochs"].size(), 3u);
  for (int e = 0; e < 3; ++e) {
    const json& rec = m["epochs"][e];
    EXPECT_EQ(rec["epoch"], e + 1);
    for (const char* key : {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds",
                            "samples_per_second"})
      ASSERT_TRUE(rec.contains(key) && rec[key].is_number()) << key;
    EXPECT_GE(rec["test_accuracy"].get<double>(), 0.0);
    EXPECT_LE(rec["test_accuracy"].get<double>(), 1.0);
    EXPECT_GT(rec["samples_per_second"].get<double>(), 0.0);
  }
  double first = m["epochs"][0]["train_loss"], last = m["epochs"][2]["train_loss"];
  EXPECT_LT(last, first * 0.8) << "training loss did not fall";
  EXPECT_LT(last, 2.0);  // below chance level, log(10) = 2.30
  EXPECT_GT(m["epochs"][2]["test_accuracy"].get<double>(), 0.5);
  ASSERT_TRUE(m.contains("final"));
  EXPECT_EQ(m["final"]["test_accuracy"], m["epochs"][2]["test_accuracy"]);
  EXPECT_GT(m["final"]["total_seconds"].get<double>(), 0.0);
  EXPECT_GT(m["final"]["peak_rss_mb"].get<double>(), 1.0);
  EXPECT_FALSE(std::filesystem::exists(metrics + ".tmp." + std::to_string(::getpid())));
}

// A learning rate of 1e30 overflows the weights in the first steps: the run finishes (a
// diverged run is a result, not a usage error) but says so on stderr in every epoch.
TEST(QtrainEndToEnd, DivergedLossIsReported) {
  TempDir dir("diverged");
  std::string data = training_data_dir(dir);
  // By default the run stops after the first diverged epoch, exit status 3, and writes no
  // checkpoint of NaN weights. The diverged epoch is printed and recorded in the metrics
  // file, which then has no final record.
  const std::string ckpt = dir.file("nan.ckpt"), stopped = dir.file("stopped.json");
  RunResult r = run_qtrain(small_run(data, "mlp", "fp32", 2) +
                               std::vector<std::string>{"--lr", "1e30", "--checkpoint", ckpt, "--metrics", stopped},
                           dir);
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("qtrain: error: training diverged in epoch 1: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--no-stop-on-nan trains on"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("epoch 1/2"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("epoch 2/2"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(ckpt));
  const json record = read_json(stopped);
  ASSERT_EQ(record["epochs"].size(), 1u);
  EXPECT_EQ(record["epochs"][0]["epoch"], 1);
  EXPECT_EQ(record["epochs"][0]["train_loss"], "nan");
  EXPECT_FALSE(record.contains("final"));
  // --no-stop-on-nan trains on, warning each epoch, and still never checkpoints NaN weights.
  // The metrics file spells the NaN losses so that qtrain reads its own file back.
  const std::string metrics = dir.file("nan.json");
  r = run_qtrain(small_run(data, "mlp", "fp32", 2) + std::vector<std::string>{"--lr", "1e30", "--no-stop-on-nan",
                                                                              "--checkpoint", ckpt, "--metrics", metrics},
                 dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("qtrain: warning: epoch 1: the mean training loss is nan"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("qtrain: warning: epoch 2: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("holds NaN or infinite values: '" + ckpt + "' is not written"), std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(ckpt));
  r = run_qtrain({"--compare", metrics}, dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  // A run that trains normally gives no warning.
  r = run_qtrain(small_run(data, "mlp", "fp32", 1), dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
}

// A checkpoint that cannot be written ends the run with an error naming the option, as a
// metrics file that cannot be written does (it was a warning, and the run exited 0 with no
// checkpoint). QTORCH_TEST_FAIL_WRITE=2 fails the second atomic write: the epoch-1 metrics
// come first, then the checkpoint.
TEST(QtrainEndToEnd, FailedCheckpointWriteEndsTheRun) {
  TempDir dir("ckpt_fail");
  std::string data = training_data_dir(dir);
  const std::string ckpt = dir.file("c.ckpt"), metrics = dir.file("m.json");
  RunResult r = run_qtrain(small_run(data, "mlp", "fp32", 2) +
                               std::vector<std::string>{"--checkpoint", ckpt, "--metrics", metrics},
                           dir, "QTORCH_TEST_FAIL_WRITE=2");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("qtrain: error: --checkpoint: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cannot write '" + ckpt + "': No space left on device"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("epoch 2/2"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(ckpt));
}

// Output names up to the longest a folder holds (255 bytes) are written: the atomic writer's
// temporary file gets a name that fits too.
TEST(QtrainEndToEnd, LongestOutputNamesAreWritten) {
  TempDir dir("long_names");
  std::string data = training_data_dir(dir);
  const std::string metrics = dir.file(std::string(250, 'm') + ".json");
  const std::string ckpt = dir.file(std::string(250, 'c') + ".ckpt");
  RunResult r = run_qtrain(small_run(data, "mlp", "fp32", 1) +
                               std::vector<std::string>{"--checkpoint", ckpt, "--metrics", metrics},
                           dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(std::filesystem::exists(metrics));
  EXPECT_TRUE(std::filesystem::exists(ckpt));
}

TEST(QtrainEndToEnd, LowPrecisionLeNetReportsDiagnostics) {
  TempDir dir("block8");
  std::string data = training_data_dir(dir);
  std::string metrics = dir.file("lenet.json");
  RunResult r = run_qtrain(small_run(data, "lenet", "block8", 2) + std::vector<std::string>{"--metrics", metrics}, dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  // The preset says what it chose.
  EXPECT_NE(r.out.find("block:8"), std::string::npos) << r.out;
  json m = read_json(metrics);
  EXPECT_EQ(m["config"]["formats"]["activation"]["rounding"], "stochastic");
  ASSERT_EQ(m["epochs"].size(), 2u);
  const json& rec = m["epochs"][1];
  ASSERT_TRUE(rec.contains("update_fraction"));
  EXPECT_GT(rec["update_fraction"].get<double>(), 0.0);
  EXPECT_LE(rec["update_fraction"].get<double>(), 1.0);
  ASSERT_TRUE(rec.contains("flush_fraction"));
  ASSERT_TRUE(rec.contains("saturation_fraction"));
  EXPECT_LT(m["epochs"][1]["train_loss"].get<double>(), m["epochs"][0]["train_loss"].get<double>());
}

TEST(QtrainEndToEnd, ResumeContinuesExactly) {
  TempDir dir("resume");
  std::string data = training_data_dir(dir);
  // Straight through: 2 epochs.
  RunResult full = run_qtrain(small_run(data, "mlp", "block8", 2) +
                                  std::vector<std::string>{"--metrics", dir.file("full.json")},
                              dir);
  ASSERT_EQ(full.code, 0) << full.err;
  // 1 epoch with a checkpoint, then resume to 2.
  std::string ckpt = dir.file("run.ckpt");
  RunResult first = run_qtrain(small_run(data, "mlp", "block8", 1) +
                                   std::vector<std::string>{"--checkpoint", ckpt, "--metrics", dir.file("part.json")},
                               dir);
  ASSERT_EQ(first.code, 0) << first.err;
  ASSERT_TRUE(std::filesystem::exists(ckpt));
  RunResult second = run_qtrain(small_run(data, "mlp", "block8", 2) +
                                    std::vector<std::string>{"--resume", ckpt, "--metrics", dir.file("part.json")},
                                dir);
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_NE(second.out.find("resumed"), std::string::npos) << second.out;
  json a = read_json(dir.file("full.json")), b = read_json(dir.file("part.json"));
  ASSERT_EQ(b["epochs"].size(), 2u);  // the first run's epoch kept, the second appended
  for (int e = 0; e < 2; ++e) {
    EXPECT_EQ(a["epochs"][e]["train_loss"], b["epochs"][e]["train_loss"]) << "epoch " << e + 1;
    EXPECT_EQ(a["epochs"][e]["test_accuracy"], b["epochs"][e]["test_accuracy"]) << "epoch " << e + 1;
  }
}

TEST(QtrainEndToEnd, BlockScaledPresetsTrainCheckpointAndResume) {
  TempDir dir("microscaling");
  std::string data = training_data_dir(dir);
  for (const std::string preset : {"mxfp8", "nvfp4"}) {
    const std::string ckpt = dir.file(preset + ".ckpt"), metrics = dir.file(preset + ".json");
    RunResult first = run_qtrain(small_run(data, "mlp", preset, 1) +
                                     std::vector<std::string>{"--checkpoint", ckpt, "--metrics", metrics},
                                 dir);
    ASSERT_EQ(first.code, 0) << first.out << first.err;
    RunResult second = run_qtrain(small_run(data, "mlp", preset, 2) +
                                      std::vector<std::string>{"--resume", ckpt, "--metrics", metrics},
                                  dir);
    ASSERT_EQ(second.code, 0) << second.out << second.err;
    json m = read_json(metrics);
    EXPECT_EQ(m["config"]["preset"], preset);
    EXPECT_EQ(m["config"]["formats"]["weight"]["format"], preset);
    EXPECT_EQ(m["config"]["formats"]["error"]["format"], preset == "mxfp8" ? "mxfp8_e5m2" : "nvfp4");
    EXPECT_EQ(m["config"]["formats"]["weight"]["rounding"], "nearest_even");
    ASSERT_EQ(m["epochs"].size(), 2u);
    EXPECT_GT(m["epochs"][1]["test_accuracy"].get<double>(), 0.5) << preset;
  }
  // A role format given as MX text on the command line.
  RunResult custom = run_qtrain(small_run(data, "mlp", "fp32", 1) +
                                    std::vector<std::string>{"--activation-format", "mx:e2m1:16", "--error-format",
                                                             "nvfp4:16:0", "--error-rounding", "stochastic"},
                                dir);
  ASSERT_EQ(custom.code, 0) << custom.out << custom.err;
  EXPECT_NE(custom.out.find("activation=mx:e2m1:16"), std::string::npos) << custom.out;
}

TEST(QtrainEndToEnd, MultiplyAccumulateInsideTheLayers) {
  TempDir dir("mac");
  std::string data = training_data_dir(dir);
  const std::string metrics = dir.file("mac.json"), ckpt = dir.file("mac.ckpt");
  RunResult r = run_qtrain(small_run(data, "lenet", "fp32", 1) +
                               std::vector<std::string>{"--mac-forward", "acc=fp16,chunk=16", "--mac-backward",
                                                        "acc=bf16", "--metrics", metrics, "--checkpoint", ckpt},
                           dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("mac_forward=acc=fp16,chunk=16; mac_backward=acc=bf16"), std::string::npos) << r.out;
  json m = read_json(metrics);
  EXPECT_NE(m["config"]["recipe"].get<std::string>().find("mac_forward=acc=fp16,chunk=16"), std::string::npos);
  // The preset on the MLP learns (one epoch of 512 images: float32 reaches about 0.57).
  const std::string mlp_metrics = dir.file("mlp.json");
  RunResult p = run_qtrain(small_run(data, "mlp", "fp16acc", 1) + std::vector<std::string>{"--metrics", mlp_metrics}, dir);
  ASSERT_EQ(p.code, 0) << p.out << p.err;
  EXPECT_GT(read_json(mlp_metrics)["epochs"][0]["test_accuracy"].get<double>(), 0.4);
  // Resuming needs the same options.
  RunResult other = run_qtrain(small_run(data, "lenet", "fp32", 2) + std::vector<std::string>{"--resume", ckpt}, dir);
  EXPECT_NE(other.code, 0) << other.out;
}

TEST(QtrainEndToEnd, ComparesAndPlotsRuns) {
  TempDir dir("compare");
  std::string data = training_data_dir(dir);
  for (const char* preset : {"fp32", "block8"}) {
    RunResult r = run_qtrain(small_run(data, "mlp", preset, 2) +
                                 std::vector<std::string>{"--metrics", dir.file(std::string(preset) + ".json"),
                                                          "--no-progress"},
                             dir);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(r.err.empty()) << r.err;  // --no-progress: nothing on stderr
  }
  std::vector<std::string> args = {"--compare", dir.file("fp32.json"), dir.file("block8.json")};
  RunResult table = run_qtrain(args, dir);
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("fp32"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("block8"), std::string::npos) << table.out;
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) GTEST_SKIP() << "gnuplot-nox is not installed: plots not checked";
  RunResult plot = run_qtrain(args + std::vector<std::string>{"--plot", dir.file("cmp.svg")}, dir);
  ASSERT_EQ(plot.code, 0) << plot.err;
  std::string svg = read_text(dir.file("cmp.svg"));
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("block8 test"), std::string::npos);
  RunResult png = run_qtrain(small_run(data, "mlp", "fp32", 1) +
                                 std::vector<std::string>{"--plot", dir.file("run.png")},
                             dir);
  ASSERT_EQ(png.code, 0) << png.err;
  std::string bytes = read_text(dir.file("run.png"));
  ASSERT_GT(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
}

// The placement is recorded in canonical form (the order of the kinds does not matter), and
// quantizers after every layer and activation train differently from the default placement.
TEST(QtrainEndToEnd, QuantizeAfterChoosesThePlacement) {
  TempDir dir("quantize_after");
  std::string data = training_data_dir(dir);
  auto run = [&](const std::vector<std::string>& extra, const std::string& name) {
    std::string metrics = dir.file(name + ".json");
    RunResult r = run_qtrain(small_run(data, "lenet", "block8", 1) + extra + std::vector<std::string>{"--metrics", metrics}, dir);
    EXPECT_EQ(r.code, 0) << r.err;
    return read_json(metrics);
  };
  json base = run({}, "default"), reordered = run({"--quantize-after", "normalization,conv,linear"}, "reordered"),
       every = run({"--quantize-after", "all"}, "every");
  EXPECT_EQ(base["config"]["quantize_after"], "linear,conv,normalization");
  EXPECT_EQ(reordered["config"]["quantize_after"], "linear,conv,normalization");
  EXPECT_EQ(every["config"]["quantize_after"], "linear,conv,normalization,activation,pooling");
  EXPECT_EQ(base["epochs"][0]["train_loss"], reordered["epochs"][0]["train_loss"]);
  EXPECT_NE(base["epochs"][0]["train_loss"], every["epochs"][0]["train_loss"]);
}

// --isolated-evaluation: the test set's size cannot change training (it did under block8,
// whose evaluations round stochastically: the s26 data audit, 1000 vs 999 test images).
TEST(QtrainEndToEnd, IsolatedEvaluationKeepsTheTestSetOutOfTraining) {
  TempDir dir("isolated_evaluation");
  std::string data = training_data_dir(dir);
  auto run = [&](const std::string& limit_test, bool isolated, const std::string& name) {
    std::string metrics = dir.file(name + ".json");
    std::vector<std::string> args = {"--data-dir", data,  "--model",     "mlp", "--preset",     "block8",
                                     "--epochs",   "2",   "--limit-train", "256", "--limit-test", limit_test,
                                     "--batch-size", "32", "--seed",     "1",   "--threads",    "1",
                                     "--metrics",  metrics};
    if (isolated) args.push_back("--isolated-evaluation");
    RunResult r = run_qtrain(args, dir);
    EXPECT_EQ(r.code, 0) << r.err;
    return read_json(metrics);
  };
  const json a = run("100", true, "a"), b = run("99", true, "b");
  EXPECT_EQ(a["config"]["isolated_evaluation"], true);
  EXPECT_EQ(a["epochs"][1]["train_loss"], b["epochs"][1]["train_loss"]);
  const json c = run("100", false, "c"), d = run("99", false, "d");
  EXPECT_EQ(c["config"]["isolated_evaluation"], false);
  EXPECT_NE(c["epochs"][1]["train_loss"], d["epochs"][1]["train_loss"]);
}

// Every line of a sweep is checked before the first run: lines that are no run (bad options,
// communication options a one-process run cannot use, --compare) refuse the whole file, each
// named by its line number in the file, and nothing trains.
TEST(QtrainEndToEnd, SweepRefusesBadLinesBeforeAnyRun) {
  TempDir dir("sweep_bad_lines");
  std::string data = training_data_dir(dir);
  const std::string common = "--data-dir " + data + " --model mlp --preset fp32 --epochs 1 --limit-train 64 --limit-test 32";
  std::ofstream(dir.file("runs.txt")) << "# a comment, then a blank line\n\n"
                                      << common << "\n"
                                      << common << " --comm-format e5m2\n"
                                      << common << " --seed \xff\n"
                                      << common << " --compare a.json\n";
  RunResult r = run_qtrain({"--sweep", dir.file("runs.txt")}, dir);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_EQ(r.out.find("epoch 1"), std::string::npos) << "trained anyway: " << r.out;
  EXPECT_EQ(r.err.find("line 3:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 4: --comm-format, --comm-rounding, --comm-error-feedback: a sweep's run trains in one process"),
            std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 5: --seed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 6: --model: has no effect with --compare"), std::string::npos) << r.err;
}

// A sweep line's --threads is its own (it carried over to the lines after it); a line that
// fails while it runs (here it diverges) fails alone; the table names each run's line in the
// file and rounds its accuracy; bytes that are not UTF-8 reach the JSON as U+FFFD.
TEST(QtrainEndToEnd, SweepLinesAreIndependent) {
  TempDir dir("sweep_lines");
  std::string data = training_data_dir(dir);
  const std::string common = "--data-dir " + data + " --model mlp --preset fp32 --epochs 1 --limit-train 64 --limit-test 32";
  std::ofstream(dir.file("runs.txt")) << common << " --threads 1\n"
                                      << "# the next line takes the default thread count\n"
                                      << common << " --metrics " << dir.file("m\xff.json") << "\n"
                                      << common << " --lr 1e30 --batch-size 8\n";
  const RunResult plain = run_qtrain({"--data-dir", data, "--model", "mlp", "--epochs", "0", "--limit-test", "32"}, dir);
  const size_t at = plain.out.find(" threads");
  ASSERT_NE(at, std::string::npos) << plain.out;
  const std::string default_threads = plain.out.substr(plain.out.rfind(' ', at - 1) + 1, at - plain.out.rfind(' ', at - 1) - 1);
  const std::string metrics = dir.file("sweep.json");
  RunResult r = run_qtrain({"--sweep", dir.file("runs.txt"), "--metrics", metrics}, dir);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("device cpu, 1 threads"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("device cpu, " + default_threads + " threads"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 runs, 1 failed"), std::string::npos) << r.out;
  const json sweep = read_json(metrics);
  ASSERT_EQ(sweep["runs"].size(), 3u);
  EXPECT_EQ(sweep["runs"][0]["line"], 1);
  EXPECT_EQ(sweep["runs"][1]["line"], 3);
  EXPECT_EQ(sweep["runs"][2]["line"], 4);
  EXPECT_EQ(sweep["runs"][0]["status"], 0);
  EXPECT_EQ(sweep["runs"][2]["status"], 3);  // qtrain::kDiverged
  // The failed run says why, in the JSON and the table (it said only "exit status 3").
  const std::string why = sweep["runs"][2]["error"].get<std::string>();
  EXPECT_EQ(why.rfind("training diverged in epoch 1: ", 0), 0u) << why;
  EXPECT_NE(r.out.find("FAILED  -         -        " + common + " --lr 1e30 --batch-size 8  (training diverged in epoch 1: "),
            std::string::npos)
      << r.out;
  // The table's row of line 1: its line number, and the accuracy as the run printed it (%.4f).
  const double accuracy = sweep["runs"][0]["metrics"]["final"]["test_accuracy"].get<double>();
  char row[64];
  std::snprintf(row, sizeof row, "\n1     0     ok      %.4f", accuracy);
  EXPECT_NE(r.out.find(row), std::string::npos) << row << " not in:\n" << r.out;
  std::ifstream in(metrics);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("m\xef\xbf\xbd.json"), std::string::npos) << text;
}

TEST(QtrainEndToEnd, HelpExitsZero) {
  TempDir dir("help");
  RunResult r = run_qtrain({"--help"}, dir);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--weight-format"), std::string::npos);
  EXPECT_NE(r.out.find("block8"), std::string::npos);
}

}  // namespace
}  // namespace qtrain::testing
#endif  // QTRAIN_PATH
