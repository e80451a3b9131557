// Output files (--metrics, --checkpoint, --plot) that cannot be written, or that name the
// same file, are rejected at start-up with the OS's reason, not discovered after training;
// options given with --compare are checked too.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/examples/qtrain_runner.h"

#ifdef QTRAIN_PATH
namespace qtrain::testing {
namespace {

TEST(QtrainOutputPaths, TargetIsADirectory) {
  TempDir dir("out_dir");
  for (auto [option, name] : {std::pair{"--metrics", "m.json"}, {"--checkpoint", "c.ckpt"}, {"--plot", "p.png"}}) {
    std::filesystem::create_directories(dir.file(name));
    expect_rejected({option, dir.file(name)}, {option, dir.file(name).c_str(), "it is a directory"});
  }
}

TEST(QtrainOutputPaths, FolderWhereNoFileCanBeCreated) {
  for (const char* option : {"--metrics", "--checkpoint", "--plot"}) {
    std::string path = std::string("/proc/out") + (std::string(option) == "--plot" ? ".png" : ".json");
    expect_rejected({option, path}, {option, "cannot create a file in folder '/proc'"});
  }
}

TEST(QtrainOutputPaths, FolderIsAFileGivesTheOsReason) {
  TempDir dir("out_parent_file");
  std::ofstream(dir.file("plain")) << "x";
  expect_rejected({"--checkpoint", dir.file("plain") + "/c.ckpt"}, {"--checkpoint", "Not a directory"});
}

TEST(QtrainOutputPaths, CheckpointAndMetricsSameFile) {
  TempDir dir("out_same");
  expect_rejected({"--checkpoint", dir.file("x.json"), "--metrics", dir.file("x.json")},
                  {"--metrics and --checkpoint", "same file"});
  expect_rejected({"--checkpoint", dir.str() + "/./x.json", "--metrics", dir.str() + "/../" +
                   std::filesystem::path(dir.str()).filename().string() + "/x.json"},
                  {"same file"});
}

// --compare only reads metrics files: any training or output option beside it (other than
// --plot) would silently change nothing, and a sweep's runs take their options from its lines.
TEST(QtrainOutputPaths, CompareAndSweepRefuseTheOptionsTheyIgnore) {
  TempDir dir("out_compare");
  std::ofstream(dir.file("a.json")) << "{}";
  expect_rejected({"--compare", dir.file("a.json"), "--lr", "0.5"}, {"--lr: has no effect with --compare"});
  expect_rejected({"--compare", dir.file("a.json"), "--metrics", dir.file("m.json")},
                  {"--metrics: has no effect with --compare"});
  expect_rejected({"--compare", dir.file("a.json"), "--data-dir", dir.str()}, {"--data-dir: has no effect with --compare"});
  std::ofstream(dir.file("runs.txt")) << "--epochs 1\n";
  for (const char* option : {"--epochs", "--model", "--threads"})
    expect_rejected({"--sweep", dir.file("runs.txt"), option, "1"}, {option, "not allowed with --sweep", "lines"});
}

}  // namespace
}  // namespace qtrain::testing
#endif  // QTRAIN_PATH
