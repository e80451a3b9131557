// Crash safety: qtrain killed with SIGKILL at 100 points, 35 of them inside every window of
// the atomic writer (through the QTORCH_TEST_KILL_WRITE hook) and 65 at evenly spread times.
// After every kill, --resume continues from the last complete checkpoint, to the same final
// accuracy as a run never interrupted, or refuses cleanly when no checkpoint exists; a torn
// checkpoint is never read and an older good one is never lost; the metrics file is whole.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tests/examples/qtrain_runner.h"

#ifdef QTRAIN_PATH
namespace qtrain::testing {
namespace {

constexpr int kEpochs = 3;

std::vector<std::string> run_args(const std::string& data, const TempDir& dir) {
  return {"--data-dir", data,           "--model",        "mlp",     "--preset", "fp32", "--epochs",
          std::to_string(kEpochs), "--limit-train", "512",  "--limit-test", "256", "--batch-size", "32",
          "--seed",  "1",  "--threads",  "1",  "--no-progress", "--checkpoint", dir.file("run.ckpt"),
          "--metrics", dir.file("run.json")};
}

// The characters of `allowed` that follow the first `label` in out ("" when it is absent).
// (Plain string search: g++ 12 warns inside libstdc++'s <regex> at -O1.)
std::string after(const std::string& out, const std::string& label, const char* allowed) {
  const size_t at = out.find(label);
  if (at == std::string::npos) return "";
  const size_t from = at + label.size();
  return out.substr(from, out.find_first_not_of(allowed, from) - from);
}

std::string final_accuracy(const std::string& out) { return after(out, "test accuracy ", "0123456789."); }

class QtrainCrash : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.file("data");
    std::filesystem::create_directories(data_);
    write_synthetic_mnist(data_, 512, 256);
    const auto t0 = std::chrono::steady_clock::now();
    RunResult ref = run_qtrain(run_args(data_, dir_), dir_);
    run_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(ref.code, 0) << ref.out << ref.err;
    reference_ = final_accuracy(ref.out);
    ASSERT_FALSE(reference_.empty()) << ref.out;
  }

  // Kills a fresh run with `env` or after `seconds`; then checks the files it left and resumes.
  // `expected_epoch` < 0: unknown (a timed kill). Returns the epoch resumed from (0: none).
  int64_t kill_and_resume(const std::string& env, double seconds, int64_t expected_epoch, const std::string& what) {
    std::filesystem::remove(dir_.file("run.ckpt"));
    std::filesystem::remove(dir_.file("run.json"));
    std::vector<std::string> args = run_args(data_, dir_);
    RunResult killed = seconds > 0 ? run_program("timeout", [&] {
      std::vector<std::string> a = {"-s", "KILL", std::to_string(seconds), QTRAIN_PATH};
      a.insert(a.end(), args.begin(), args.end());
      return a;
    }(), dir_) : run_qtrain(args, dir_, env);
    if (seconds == 0) {  // the shell that popen runs reports the SIGKILL as 128 + 9
      EXPECT_TRUE(killed.code == 137 || killed.code == -1) << what << ": expected the kill hook to fire, got exit "
                                                           << killed.code << "\n" << killed.out << killed.err;
    }

    // The metrics file, when there is one, is whole JSON with whole epoch records.
    if (std::filesystem::exists(dir_.file("run.json"))) {
      nlohmann::json m = nlohmann::json::parse(read_text(dir_.file("run.json")), nullptr, false);
      EXPECT_FALSE(m.is_discarded()) << what << ": torn metrics file";
      if (!m.is_discarded()) {
        EXPECT_TRUE(m.contains("epochs") && m["epochs"].is_array()) << what;
      }
    }
    const bool has_checkpoint = std::filesystem::exists(dir_.file("run.ckpt"));
    args.push_back("--resume");
    args.push_back(dir_.file("run.ckpt"));
    RunResult resumed = run_qtrain(args, dir_);
    if (!has_checkpoint) {
      EXPECT_TRUE(expected_epoch <= 0) << what << ": the checkpoint of epoch " << expected_epoch << " was lost";
      EXPECT_EQ(resumed.code, 2) << what << resumed.err;
      EXPECT_NE(resumed.err.find("--resume: no such file"), std::string::npos) << what << resumed.err;
      return 0;
    }
    EXPECT_EQ(resumed.code, 0) << what << ": resuming failed (a torn checkpoint?)\n" << resumed.err;
    // "resumed from FILE after epoch N"
    const size_t line = resumed.out.find("resumed from ");
    const std::string n = line == std::string::npos ? "" : after(resumed.out.substr(line), " after epoch ", "0123456789");
    const int64_t epoch = n.empty() ? -1 : std::stoll(n);
    EXPECT_GE(epoch, 1) << what << resumed.out;
    if (expected_epoch >= 0) {
      EXPECT_EQ(epoch, expected_epoch) << what;
    }
    EXPECT_EQ(final_accuracy(resumed.out), reference_) << what << ": resumed to another result";
    return epoch;
  }

  TempDir dir_{"crash"};
  std::string data_, reference_;
  double run_seconds_ = 0;
};

// qtrain's atomic writes: epoch e writes the metrics (write 2e - 1), then the checkpoint
// (write 2e); the final record is write 2 * kEpochs + 1.
TEST_F(QtrainCrash, KilledInsideEveryWindowOfEveryWrite) {
  int points = 0;
  for (int64_t n = 1; n <= 2 * kEpochs + 1; ++n) {
    for (const char* stage : {"opened", "half", "written", "synced", "renamed"}) {
      const bool completes = std::string(stage) == "renamed";
      int64_t done = (n - 1) / 2;                    // checkpoints written before write n
      if (n % 2 == 0 && completes) ++done;             // write n is itself a checkpoint
      const std::string what = "write " + std::to_string(n) + " at " + stage;
      kill_and_resume("QTORCH_TEST_KILL_WRITE=" + std::to_string(n) + ":" + stage, 0, done, what);
      ++points;
    }
  }
  EXPECT_EQ(points, 35);
}

TEST_F(QtrainCrash, KilledAtSpreadTimes) {
  const int kPoints = 65;
  std::vector<int64_t> epochs;
  for (int i = 0; i < kPoints; ++i) {
    const double seconds = 0.02 + run_seconds_ * 1.1 * (i + 0.5) / kPoints;
    epochs.push_back(kill_and_resume("", seconds, -1, "killed after " + std::to_string(seconds) + " s"));
  }
  // Where the kills fell: how many runs resumed from each epoch (0: no checkpoint yet).
  std::map<int64_t, int> by_epoch;
  for (int64_t e : epochs) ++by_epoch[e];
  std::string spread;
  for (auto [e, n] : by_epoch) spread += " epoch " + std::to_string(e) + ": " + std::to_string(n) + ";";
  std::printf("timed kills over %.2f s:%s\n", run_seconds_ * 1.1, spread.c_str());
  EXPECT_GE(by_epoch.size(), 3u) << "the kills should fall before, between and after checkpoints";
}

}  // namespace
}  // namespace qtrain::testing
#endif
