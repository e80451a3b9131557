// train_mlp, the README's one-screen example, reads its command line strictly: --help and -h
// print the usage (exit 0); an option it does not have or a third argument is named on stderr
// with the usage (exit 2), before any data loads.
#include <gtest/gtest.h>

#include "tests/examples/qtrain_runner.h"

#ifdef TRAIN_MLP_PATH
namespace {

using qtrain::testing::RunResult;
using qtrain::testing::TempDir;

const char* const kUsage = "usage: train_mlp [FASHION_MNIST_DIR [CHECKPOINT]]\n";

TEST(TrainMlpUsage, HelpPrintsTheUsage) {
  TempDir dir("train_mlp_help");
  for (const char* help : {"--help", "-h"}) {
    const RunResult r = qtrain::testing::run_program(TRAIN_MLP_PATH, {help}, dir);
    EXPECT_EQ(r.code, 0) << help;
    EXPECT_EQ(r.out, kUsage) << help;
  }
}

TEST(TrainMlpUsage, BadArgumentsAreNamed) {
  TempDir dir("train_mlp_bad");
  RunResult r = qtrain::testing::run_program(TRAIN_MLP_PATH, {"--epochs", "3"}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, std::string("train_mlp: error: unknown option '--epochs' (it takes none but --help)\n") + kUsage);
  r = qtrain::testing::run_program(TRAIN_MLP_PATH, {"a", "b", "c"}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, std::string("train_mlp: error: expected at most 2 arguments, got 3\n") + kUsage);
}

}  // namespace
#endif  // TRAIN_MLP_PATH
