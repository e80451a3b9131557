// Every bad command line of qrepro gives one "qrepro: error: ..." line and exit code 2
// before any data is loaded or part is run; output files are checked up front.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/examples/qtrain_runner.h"

#ifdef QREPRO_PATH
namespace qrepro::testing {
namespace {

using qtrain::testing::RunResult;
using qtrain::testing::TempDir;

// --data names a missing folder, so a command line that got past its checks fails later
// with a different message instead of running a part.
void expect_rejected(std::vector<std::string> args, std::initializer_list<const char*> parts) {
  TempDir dir("qrepro_bad");
  args.insert(args.end(), {"--quick", "-q", "--data", dir.file("no-data")});
  RunResult r = qtrain::testing::run_program(QREPRO_PATH, args, dir);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
  EXPECT_EQ(r.err.rfind("qrepro: error: ", 0), 0u) << r.err;
  for (const char* p : parts) EXPECT_NE(r.err.find(p), std::string::npos) << "'" << p << "' not in: " << r.err;
}

TEST(QreproBadInput, SeedsOutOfRangeOrNotANumber) {
  for (const char* v : {"0", "101", "abc", "", "1.5", "99999999999999999999"})
    expect_rejected({"1a", "--seeds", v},
                    {"--seeds: expected an integer in [1, 100]", std::string("got '").append(v).append("'").c_str()});
}

TEST(QreproBadInput, SeedBaseOutOfRangeOrNotANumber) {
  for (const char* v : {"-1", "1000001", "abc", "", "1.5"})
    expect_rejected({"1a", "--seed-base", v},
                    {"--seed-base: expected an integer in [0, 1000000]", std::string("got '").append(v).append("'").c_str()});
}

TEST(QreproBadInput, ThreadsOutOfRangeOrNotANumber) {
  for (const char* v : {"0", "257", "abc", ""})
    expect_rejected({"1a", "--threads", v}, {"--threads: expected an integer in [1, 256]", std::string("got '").append(v).c_str()});
}

// An empty value is not a left-out option: `--json "$OUT"` with OUT unset wrote nothing and
// `--data ''` read the default folder, both with exit status 0.
TEST(QreproBadInput, EmptyValuesAreRefused) {
  for (const char* name : {"--json", "--plot", "--markdown"})
    expect_rejected({"1a", name, ""}, {(std::string(name) + ": expected a file name, got ''").c_str()});
  TempDir dir("qrepro_empty_data");
  RunResult r = qtrain::testing::run_program(QREPRO_PATH, {"1a", "--quick", "-q", "--data", ""}, dir);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_EQ(r.err, "qrepro: error: --data: expected a folder, got ''\n");
}

TEST(QreproBadInput, ExtraPositionalAndUnknownOption) {
  expect_rejected({"1a", "1b"}, {"1b"});
  expect_rejected({"1a", "--seed", "3"}, {"--seed"});
}

TEST(QreproBadInput, UnknownExperimentIsOneLine) {
  for (const char* v : {"foo", "9", "8d", ""})
    expect_rejected({v}, {"expected an experiment (1a..8c, a paper name or all; --list shows them)",
                          std::string("got '").append(v).append("'").c_str()});
}

// A data folder smaller than the part's set-up ("the first 20000 images") is an error, exit
// code 2, not a run on fewer images reported as FAIL under the nominal set-up.
TEST(QreproBadInput, DataFolderSmallerThanThePartNeeds) {
  TempDir dir("qrepro_small");
  qtrain::testing::write_synthetic_mnist(dir.str(), 200, 100);
  RunResult r = qtrain::testing::run_program(QREPRO_PATH, {"--quick", "-q", "--data", dir.str(), "3a"}, dir);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("qrepro: error in part 3a: --data: the part trains on the first "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("training images, the data folder holds 200"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
}

// A part that uses a whole split ("all 10 000 test images", every part's evaluation) refuses a
// folder holding another count: 1a --quick on 300 test images printed PASS on 300.
TEST(QreproBadInput, DataFolderWithoutTheWholeTestSet) {
  TempDir dir("qrepro_short_test");
  qtrain::testing::write_synthetic_mnist(dir.str(), 20000, 300);
  RunResult r = qtrain::testing::run_program(QREPRO_PATH, {"--quick", "-q", "--data", dir.str(), "1a"}, dir);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("qrepro: error in part 1a: --data: the part uses all 10000 test images of Fashion-MNIST, "
                       "the data folder holds 300"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out.find("PASS"), std::string::npos) << r.out;
}

TEST(QreproBadInput, MissingExperiment) {
  expect_rejected({}, {"qrepro: error: missing the experiment to run (--list shows them)"});
}

TEST(QreproBadInput, OutputFilesCheckedUpFront) {
  TempDir dir("qrepro_out");
  std::filesystem::create_directories(dir.file("adir.json"));
  std::ofstream(dir.file("plain")) << "x";
  expect_rejected({"1a", "--json", dir.file("nope/r.json")}, {"--json", "No such file or directory"});
  expect_rejected({"1a", "--json", dir.file("adir.json")}, {"--json", "it is a directory"});
  expect_rejected({"1a", "--json", "/proc/r.json"}, {"--json", "cannot create a file in folder '/proc'"});
  expect_rejected({"1a", "--json", dir.file("plain") + "/r.json"}, {"--json", "Not a directory"});
  expect_rejected({"1a", "--plot", dir.file("nope/r.png")}, {"--plot", "No such file or directory"});
}

}  // namespace
}  // namespace qrepro::testing
#endif  // QREPRO_PATH
