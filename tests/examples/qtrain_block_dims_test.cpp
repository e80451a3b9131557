// A block format's DIM must exist in every tensor its role quantizes; qtrain checks it at
// start-up against the chosen model, naming the option, instead of failing in training.
#include <gtest/gtest.h>

#include "tests/examples/qtrain_runner.h"

#ifdef QTRAIN_PATH
namespace qtrain::testing {
namespace {

TEST(QtrainBlockDims, OptimizerRolesIncludeOneDimensionalBiases) {
  for (const char* role : {"weight", "grad", "momentum", "acc"}) {
    std::string option = std::string("--") + role + "-format";
    expect_rejected({"--model", "mlp", option, "block:8:1"},
                    {(option + " block:8:1: expected DIM -1 or 0 (biases are 1-D), got 1").c_str()});
    expect_rejected({"--model", "mlp", option, "block:8:5"}, {option.c_str(), "got 5"});
  }
}

// The gradients sent between processes include the biases too (checked in one process as
// well: the same command line under mpirun would fail at the first exchange).
TEST(QtrainBlockDims, CommunicationFormatIncludesOneDimensionalBiases) {
  expect_rejected({"--model", "mlp", "--comm-format", "block:8:1"},
                  {"--comm-format block:8:1: expected DIM -1 or 0 (biases are 1-D), got 1"});
  expect_rejected({"--model", "mlp", "--comm-format", "mx:e4m3:32:1"},
                  {"--comm-format mx:e4m3:32:1: expected AXIS -1 or 0 (biases are 1-D), got 1"});
}

TEST(QtrainBlockDims, ActivationsAreTwoDimensionalAfterLinearLayers) {
  for (const char* role : {"activation", "error"})
    for (const char* model : {"mlp", "lenet", "cnn"}) {
      std::string option = std::string("--") + role + "-format";
      expect_rejected({"--model", model, option, "block:8:2"}, {option.c_str(), "expected DIM -1, 0 or 1", "got 2"});
    }
  expect_rejected({"--model", "lenet", "--activation-format", "block:8:3"}, {"--activation-format", "got 3"});
}

TEST(QtrainBlockDims, MicroscalingAxesMustExistToo) {
  expect_rejected({"--model", "mlp", "--grad-format", "mx:e4m3:32:1"},
                  {"--grad-format mx:e4m3:32:1: expected AXIS -1 or 0 (biases are 1-D), got 1"});
  expect_rejected({"--model", "mlp", "--weight-format", "nvfp4:16:-2"}, {"--weight-format nvfp4:16:-2", "got -2"});
  expect_rejected({"--model", "lenet", "--error-format", "mx:e2m1:32:2"},
                  {"--error-format", "expected AXIS -2, -1, 0 or 1", "got 2"});
}

TEST(QtrainBlockDims, ExistingDimsStillTrain) {
  TempDir dir("block_dims_ok");
  write_synthetic_mnist(dir.str(), 20, 10);
  RunResult r = run_qtrain({"--data-dir", dir.str(), "--model", "mlp", "--epochs", "1", "--no-progress",
                            "--weight-format", "block:8:0", "--activation-format", "block:8:1"},
                           dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace qtrain::testing
#endif  // QTRAIN_PATH
