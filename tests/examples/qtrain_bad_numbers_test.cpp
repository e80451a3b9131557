// Numeric options of qtrain: a value that is empty, not a number, beyond the option's type
// or outside its range is rejected with one line naming the option, the range and the
// text given; it is never taken as 0, clamped, wrapped or left infinite.
#include <gtest/gtest.h>

#include "tests/examples/qtrain_runner.h"

#ifdef QTRAIN_PATH
namespace qtrain::testing {
namespace {

TEST(QtrainBadNumbers, IntegersBeyondInt64AreNotClamped) {
  for (const char* option : {"--batch-size", "--epochs", "--limit-train", "--limit-test", "--threads", "--swa-start"})
    for (const char* value : {"9223372036854775808", "99999999999999999999999"})
      expect_rejected({option, value}, {option, "an integer in [", std::string("got '").append(value).c_str()});
}

TEST(QtrainBadNumbers, BatchSizeHasASaneBound) {
  expect_rejected({"--batch-size", "4611686018427387904"}, {"--batch-size: expected an integer in [1, 1000000], got '4611686018427387904'"});
  expect_rejected({"--batch-size", "10000000"}, {"--batch-size: expected an integer in [1, 1000000]"});
}

TEST(QtrainBadNumbers, MinusOneIsNamedWhereItIsAllowed) {
  expect_rejected({"--limit-train", "0"}, {"--limit-train: expected -1 (all) or an integer in [1, 9223372036854775807], got '0'"});
  expect_rejected({"--limit-test", "-2"}, {"--limit-test: expected -1 (all) or an integer in [1, "});
  expect_rejected({"--swa-start", "0"}, {"--swa-start: expected -1 (off) or an integer in [1, 1000000], got '0'"});
}

TEST(QtrainBadNumbers, SeedOutsideUint64) {
  expect_rejected({"--seed", "-1"}, {"--seed: expected an integer in [0, 18446744073709551615], got '-1'"});
  expect_rejected({"--seed", "18446744073709551616"}, {"--seed: expected an integer in [0, 18446744073709551615]"});
}

TEST(QtrainBadNumbers, EmptyTextIsNotZero) {
  for (const char* option : {"--epochs", "--batch-size", "--limit-train", "--limit-test", "--threads",
                             "--swa-start", "--seed", "--lr", "--momentum", "--weight-decay"})
    expect_rejected({option, ""}, {option, "expected ", "got ''"});
}

TEST(QtrainBadNumbers, NotANumberSaysWhatWasExpected) {
  expect_rejected({"--epochs", "abc"}, {"--epochs: expected an integer in [0, 1000000], got 'abc'"});
  expect_rejected({"--epochs", "1.5"}, {"--epochs: expected an integer"});
  expect_rejected({"--momentum", "0.1x"}, {"--momentum: expected a number in [0, 1), got '0.1x'"});
}

TEST(QtrainBadNumbers, RealsMustBeFiniteAndNamedByTheirOption) {
  for (const char* option : {"--lr", "--momentum", "--weight-decay"})
    for (const char* value : {"inf", "infinity", "1e400", "nan", "-inf"})
      expect_rejected({option, value}, {option, "expected a", std::string("got '").append(value).c_str()});
  expect_rejected({"--lr", "inf"}, {"--lr: expected a finite number > 0, got 'inf'"});
}

TEST(QtrainBadNumbers, ScheduleEveryIsABoundedInteger) {
  for (const char* schedule : {"step:1e30:0.5", "step:9.3e18:0.5", "step:9223372036854775807:0.5", "step:1.5:0.5"})
    expect_rejected({"--schedule", schedule}, {"--schedule", "EVERY: expected an integer in [1, 1000000]"});
  expect_rejected({"--schedule", "step:2:inf"}, {"--schedule", "GAMMA: expected a number in (0, 1], got 'inf'"});
}

TEST(QtrainBadNumbers, DeviceIndexBeyondInt) {
  for (const char* device : {"cuda:99999999999", "cuda:2147483648", "cuda:-1", "cuda:", "cuda:0 "})
    expect_rejected({"--device", device},
                    {"--device: expected cpu, cuda or cuda:N (N a GPU index", std::string("got '").append(device).c_str()});
}

TEST(QtrainBadNumbers, LargestValuesStillAccepted) {
  TempDir dir("largest");
  write_synthetic_mnist(dir.str(), 20, 10);
  RunResult r = run_qtrain({"--data-dir", dir.str(), "--model", "mlp", "--epochs", "0", "--no-progress",
                            "--seed", "18446744073709551615", "--limit-train", "9223372036854775807",
                            "--batch-size", "1000000", "--threads", "1"},
                           dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace qtrain::testing
#endif  // QTRAIN_PATH
