// qtrain --plot: the picture replaces an earlier file only when gnuplot succeeded, a bad
// target gives one clear line, and a file name cannot inject gnuplot commands.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/examples/qtrain_runner.h"

#ifdef QTRAIN_PATH
namespace qtrain::testing {
namespace {

bool has_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

// A small metrics file with two epochs.
std::string write_metrics(const TempDir& dir, const std::string& name) {
  std::string path = dir.file(name);
  std::ofstream(path) << R"({"epochs": [
    {"epoch": 1, "train_loss": 1.5, "train_accuracy": 0.5, "test_loss": 1.4, "test_accuracy": 0.55},
    {"epoch": 2, "train_loss": 1.0, "train_accuracy": 0.7, "test_loss": 1.1, "test_accuracy": 0.65}]})";
  return path;
}

int leftovers(const TempDir& dir) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.str()))
    n += entry.path().filename().string().find(".tmp.") != std::string::npos;
  return n;
}

TEST(QtrainPlot, NewlineInThePlotNameIsRejectedNotInjected) {
  TempDir dir("plot_inject");
  std::string a = write_metrics(dir, "a.json");
  RunResult r = run_qtrain({"--compare", a, "--plot", "x.svg\nsystem \"touch pwned\"\nset output \"y.svg"}, dir,
                           "cd " + shell_word(dir.str()) + " &&");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--plot: expected text without control characters"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("pwned")));
}

TEST(QtrainPlot, NewlineInACompareFileNameIsRejected) {
  TempDir dir("plot_label");
  std::string a = write_metrics(dir, "a\nb.json");
  RunResult r = run_qtrain({"--compare", a, "--plot", dir.file("c.svg")}, dir);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--compare: a file name used as a plot label: expected text without control characters"),
            std::string::npos)
      << r.err;
}

// The start-up check (examples/common/output_path) finds a directory target before gnuplot runs.
TEST(QtrainPlot, DirectoryTargetGivesOneLine) {
  if (!has_gnuplot()) GTEST_SKIP() << "gnuplot-nox is not installed";
  TempDir dir("plot_dir");
  std::string a = write_metrics(dir, "a.json");
  std::filesystem::create_directories(dir.file("adir.png"));
  RunResult r = run_qtrain({"--compare", a, "--plot", dir.file("adir.png")}, dir);
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.err, "qtrain: error: --plot: cannot write '" + dir.file("adir.png") + "': it is a directory\n");
  r = run_qtrain({"--compare", a, "--plot", "/proc/c.png"}, dir);
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.err.rfind("qtrain: error: --plot: cannot write '/proc/c.png': ", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
}

TEST(QtrainPlot, FailedDrawingKeepsTheEarlierPicture) {
  if (!has_gnuplot()) GTEST_SKIP() << "gnuplot-nox is not installed";
  TempDir dir("plot_atomic");
  std::string a = write_metrics(dir, "a.json"), b = write_metrics(dir, "it's \"b\".json");
  std::string png = dir.file("p.png");
  RunResult r = run_qtrain({"--compare", a, b, "--plot", png}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string picture = read_text(png);
  ASSERT_GT(picture.size(), 8192u);
  // gnuplot may write only 8 KiB: it is stopped part-way through the new picture.
  r = run_qtrain({"--compare", a, b, "--plot", png}, dir, "ulimit -f 8;");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("--plot: gnuplot failed to draw '" + png + "'"), std::string::npos) << r.err;
  EXPECT_EQ(read_text(png), picture);
  EXPECT_EQ(leftovers(dir), 0);
}

// A diverged run's losses are all NaN or infinite: the loss panel is drawn empty (gnuplot
// stopped on it, and lost the accuracy panel with it).
TEST(QtrainPlot, LossesThatAreAllNaNStillDraw) {
  if (!has_gnuplot()) GTEST_SKIP() << "gnuplot-nox is not installed";
  TempDir dir("plot_nan");
  const std::string a = dir.file("nan.json");
  std::ofstream(a) << R"({"epochs": [
    {"epoch": 1, "train_loss": "nan", "train_accuracy": 0.1, "test_loss": "nan", "test_accuracy": 0.1},
    {"epoch": 2, "train_loss": "inf", "train_accuracy": 0.1, "test_loss": "nan", "test_accuracy": 0.1}]})";
  RunResult r = run_qtrain({"--compare", a, "--plot", dir.file("p.png")}, dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_text(dir.file("p.png")).substr(1, 3), "PNG");
  r = run_qtrain({"--compare", a, write_metrics(dir, "b.json"), "--plot", dir.file("q.svg")}, dir);
  EXPECT_EQ(r.code, 0) << r.err;
}

// An evaluate-only run's metrics file has no epochs: --compare shows its final figures, and
// refuses to draw it.
TEST(QtrainPlot, CompareShowsTheFinalRecordOfAnEvaluationOnlyRun) {
  TempDir dir("compare_final");
  const std::string a = dir.file("eval.json");
  std::ofstream(a) << R"({"epochs": [], "final": {"test_accuracy": 0.1169, "test_loss": 2.306}})";
  RunResult r = run_qtrain({"--compare", a}, dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("0.1169     0.1169     2.3060          -"), std::string::npos) << r.out;
  if (!has_gnuplot()) return;
  r = run_qtrain({"--compare", a, "--plot", dir.file("p.png")}, dir);
  EXPECT_NE(r.err.find("--plot: run 'eval' has no epochs to draw"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace qtrain::testing
#endif  // QTRAIN_PATH
