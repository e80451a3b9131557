// Every bad input to qtrain gives one clear line on stderr, a non-zero exit and no
// training.
#include <gtest/gtest.h>

#include "qtorch/core/device.h"
#include "tests/examples/qtrain_runner.h"

#ifdef QTRAIN_PATH
namespace qtrain::testing {
namespace {

TEST(QtrainBadInput, UnknownFormat) { expect_rejected({"--weight-format", "float:99"}, {"--weight-format", "float:99"}); }
TEST(QtrainBadInput, UnknownActivationFormat) { expect_rejected({"--activation-format", "int4"}, {"--activation-format", "int4"}); }
TEST(QtrainBadInput, UnknownRounding) { expect_rejected({"--error-rounding", "sideways"}, {"--error-rounding", "sideways"}); }
TEST(QtrainBadInput, BadMultiplyAccumulate) {
  expect_rejected({"--mac-forward", "acc=mxfp8"}, {"--mac-forward", "per tensor, not per operation"});
  expect_rejected({"--mac-backward", "mul=e5m2"}, {"--mac-backward", "no acc=FORMAT"});
  expect_rejected({"--mac-forward", "acc=fp16,mul=e5m2,fma"}, {"--mac-forward", "fma"});
}

TEST(QtrainBadInput, BadCommunicationFormat) {
  expect_rejected({"--comm-format", "nvfp4"}, {"--comm-format", "cannot be recovered"});
  expect_rejected({"--comm-format", "int3"}, {"--comm-format", "int3"});
  expect_rejected({"--comm-error-feedback"}, {"--comm-error-feedback", "needs --comm-format"});
}
TEST(QtrainBadInput, SweepFile) {
  expect_rejected({"--sweep", "/nonexistent/runs.txt"}, {"--sweep", "/nonexistent/runs.txt"});
  expect_rejected({"--sweep", "/dev/null", "--checkpoint", "c.ckpt"}, {"--checkpoint", "not allowed with --sweep"});
}

// A file name longer than a folder entry allows made std::filesystem throw, and qtrain abort.
TEST(QtrainBadInput, FileNamesTooLongForTheSystem) {
  const std::string name(256, 'a');
  for (const char* option : {"--resume", "--compare", "--sweep"})
    expect_rejected({option, name}, {option, "cannot read", "File name too long"});
}

TEST(QtrainBadInput, UnknownPreset) { expect_rejected({"--preset", "fp4"}, {"--preset", "fp4", "block8"}); }
TEST(QtrainBadInput, NegativeEpochs) { expect_rejected({"--epochs=-1"}, {"--epochs", "-1"}); }
TEST(QtrainBadInput, NegativeEpochsSeparateValue) { expect_rejected({"--epochs", "-3"}, {"--epochs"}); }
TEST(QtrainBadInput, BatchSizeZero) { expect_rejected({"--batch-size", "0"}, {"--batch-size", "0"}); }
// Adam keeps its own moments: a --momentum given with it would be silently ignored.
TEST(QtrainBadInput, MomentumWithAdam) {
  expect_rejected({"--optimizer", "adam", "--momentum", "0.5"}, {"--momentum", "sgd only", "adam"});
}
TEST(QtrainBadInput, NonNumericEpochs) { expect_rejected({"--epochs", "many"}, {"--epochs"}); }
TEST(QtrainBadInput, NegativeLearningRate) { expect_rejected({"--lr", "-0.1"}, {"--lr"}); }
TEST(QtrainBadInput, UnknownModel) { expect_rejected({"--model", "resnet"}, {"--model", "resnet"}); }
TEST(QtrainBadInput, UnknownOptimizer) { expect_rejected({"--optimizer", "lion"}, {"--optimizer", "lion"}); }
TEST(QtrainBadInput, BadSchedule) { expect_rejected({"--schedule", "step:0:2"}, {"--schedule"}); }
TEST(QtrainBadInput, BadLossScale) { expect_rejected({"--loss-scale", "static:-4"}, {"--loss-scale"}); }
TEST(QtrainBadInput, UnknownOption) { expect_rejected({"--epoch", "3"}, {"--epoch"}); }
TEST(QtrainBadInput, MissingDataDir) {
  expect_rejected({"--data-dir", "/nonexistent/fashion"}, {"/nonexistent/fashion", "dataset-fashion-mnist"});
}
TEST(QtrainBadInput, TruncatedDataFile) {
  TempDir dir("truncated");
  write_synthetic_mnist(dir.str(), 20, 10);
  std::filesystem::resize_file(dir.file("train-images-idx3-ubyte"), 1000);
  expect_rejected({"--data-dir", dir.str()}, {"train-images-idx3-ubyte", "truncated"});
}
TEST(QtrainBadInput, CudaWhenNotAvailable) {
  if (qtorch::cuda_is_available()) GTEST_SKIP() << "a GPU is available";
  expect_rejected({"--device", "cuda"}, {"--device cuda", "CUDA", "use --device cpu"});
}
TEST(QtrainBadInput, UnknownDevice) { expect_rejected({"--device", "tpu"}, {"tpu"}); }
TEST(QtrainBadInput, GnuplotMissingSaysHowToInstall) {
  expect_rejected({"--plot", "out.png"}, {"--plot", "gnuplot", "gnuplot-nox"}, "PATH=/nonexistent");
}
TEST(QtrainBadInput, PlotOfAnEvaluationOnlyRun) {
  expect_rejected({"--epochs", "0", "--plot", "out.png"}, {"--plot", "--epochs 0", "no epoch to draw"});
}
// A dynamic scale starts inside the range the scaler keeps it in, checked before any data loads.
TEST(QtrainBadInput, DynamicLossScaleOutsideTheScalersRange) {
  for (const char* scale : {"dynamic:3e38", "dynamic:1e-6"})
    expect_rejected({"--loss-scale", scale}, {"--loss-scale", "dynamic scaler's range [1.52587890625e-05, 1099511627776]", scale});
}
TEST(QtrainBadInput, PlotExtension) { expect_rejected({"--plot", "out.jpg"}, {"--plot", "out.jpg"}); }
TEST(QtrainBadInput, MetricsFolderMissing) {
  expect_rejected({"--metrics", "/nonexistent/dir/m.json"}, {"--metrics", "/nonexistent/dir"});
}
TEST(QtrainBadInput, ResumeFileMissing) { expect_rejected({"--resume", "/nonexistent.ckpt"}, {"--resume"}); }
TEST(QtrainBadInput, CompareFileMissing) {
  expect_rejected({"--compare", "/nonexistent.json"}, {"--compare", "/nonexistent.json"});
}
// A checkpoint of `epochs` epochs of the mlp with `preset`, trained on synthetic data in `dir`.
std::string checkpoint_of(const TempDir& dir, const std::string& preset, int epochs) {
  write_synthetic_mnist(dir.str(), 20, 10);
  std::string ckpt = dir.file(preset + ".ckpt");
  RunResult r = run_qtrain({"--data-dir", dir.str(), "--model", "mlp", "--preset", preset, "--epochs",
                            std::to_string(epochs), "--no-progress", "--checkpoint", ckpt},
                           dir);
  EXPECT_EQ(r.code, 0) << r.err;
  return ckpt;
}
TEST(QtrainBadInput, ResumeBeyondEpochsWritesNothing) {
  TempDir dir("resume_beyond");
  std::string ckpt = checkpoint_of(dir, "block8", 2);
  expect_rejected({"--data-dir", dir.str(), "--model", "mlp", "--preset", "block8", "--epochs", "1", "--resume",
                   ckpt, "--metrics", dir.file("m.json")},
                  {("--resume: " + ckpt + " is at epoch 2, beyond --epochs 1").c_str()});
  EXPECT_FALSE(std::filesystem::exists(dir.file("m.json")));
}
TEST(QtrainBadInput, ResumeWithAnotherPreset) {
  TempDir dir("resume_preset");
  std::string ckpt = checkpoint_of(dir, "fp32", 1);
  expect_rejected({"--data-dir", dir.str(), "--model", "mlp", "--preset", "block8", "--epochs", "2", "--resume", ckpt},
                  {("--resume: " + ckpt + " was trained with --preset fp32 (model mlp), this run uses --preset block8")
                       .c_str()});
  ckpt = checkpoint_of(dir, "bf16", 1);
  expect_rejected({"--data-dir", dir.str(), "--model", "mlp", "--preset", "fixed16", "--epochs", "2", "--resume", ckpt},
                  {"was trained with --preset bf16 (model mlp), this run uses --preset fixed16"});
}
TEST(QtrainBadInput, SwaAfterLastEpoch) { expect_rejected({"--epochs", "2", "--swa-start", "5"}, {"--swa-start"}); }

TEST(QtrainBadInput, ResumeFromAFolderAndCheckpointWithoutEpochs) {
  TempDir dir("resume_folder");
  expect_rejected({"--resume", dir.str()}, {("--resume: expected a checkpoint file, got the folder '" + dir.str() + "'").c_str()});
  expect_rejected({"--epochs", "0", "--checkpoint", dir.file("c.ckpt")},
                  {"--checkpoint: --epochs 0 trains nothing, so no checkpoint would be written"});
}

// An empty value is not a left-out option: `--resume "$CKPT"` with CKPT unset trained from
// scratch, and `--checkpoint ''` wrote nothing, both with exit status 0.
TEST(QtrainBadInput, EmptyValuesAreRefused) {
  for (const char* name : {"--resume", "--checkpoint", "--metrics", "--plot", "--sweep"})
    expect_rejected({name, ""}, {(std::string(name) + ": expected a file name, got ''").c_str()});
  for (const char* name : {"--loss-scale", "--schedule", "--mac-forward"})
    expect_rejected({name, ""}, {(std::string(name) + ": expected a value, got ''").c_str()});
  expect_rejected({"--data-dir", ""}, {"--data-dir: expected a folder, got ''"});
}

}  // namespace
}  // namespace qtrain::testing
#endif  // QTRAIN_PATH
