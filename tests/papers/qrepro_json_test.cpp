// qrepro --json replaces its file atomically: a write that fails (here under a 1 KiB
// file-size limit) keeps the previous file whole and leaves no temporary behind. Every part's
// JSON carries its provenance (bytes of the command line that are not UTF-8 as U+FFFD), and
// --markdown writes the part's section of docs/papers.md.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "qtorch/data/mnist.h"

#ifdef QREPRO_PATH
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(QreproJson, FailedWriteKeepsThePreviousFile) {
  if (!std::filesystem::exists(std::filesystem::path(qtorch::data::kFashionMnistDir) / "train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST is not installed";
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("qrepro_json_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string json = (dir / "r.json").string(), err = (dir / "err.txt").string();
  const std::string previous = "[{\"previous\": \"results\"}]\n";
  std::ofstream(json) << previous;
  // SIGXFSZ ignored: the write fails with EFBIG instead of killing the program.
  std::string command = "trap '' XFSZ; ulimit -f 1; exec " + std::string(QREPRO_PATH) + " 1a --quick -q --threads 1 --json " +
                        json + " >/dev/null 2>" + err;
  int status = std::system(("bash -c \"" + command + "\"").c_str());
  EXPECT_NE(status, 0);
  EXPECT_EQ(read_text(json), previous);
  EXPECT_NE(read_text(err).find("--json: cannot write '" + json + "': File too large"), std::string::npos)
      << read_text(err);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) files += entry.path().string() != err;
  EXPECT_EQ(files, 1) << "a temporary file was left behind";
  std::filesystem::remove_all(dir);
}

TEST(QreproJson, ProvenanceAndMarkdown) {
  if (!std::filesystem::exists(std::filesystem::path(qtorch::data::kFashionMnistDir) / "train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST is not installed";
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("qrepro_prov_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  // A file name that is no UTF-8 reaches the JSON's command line as U+FFFD (the JSON was lost
  // after the whole run).
  const std::string json = (dir / "r.json").string(), md = (dir / "r\xff.md").string();
  const std::string command =
      std::string(QREPRO_PATH) + " 1a --quick -q --threads 1 --seed-base 7 --json " + json + " --markdown " + md + " >/dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0);
  const nlohmann::json parts = nlohmann::json::parse(read_text(json));
  ASSERT_EQ(parts.size(), 1u);
  const nlohmann::json& prov = parts[0].at("provenance");
  EXPECT_FALSE(prov.at("commit").get<std::string>().empty());
  EXPECT_EQ(prov.at("date").get<std::string>().size(), 20u) << prov.at("date");  // 2026-12-05T01:02:03Z
  EXPECT_EQ(prov.at("threads").get<int>(), 1);
  EXPECT_EQ(prov.at("seeds"), nlohmann::json::array({7}));
  EXPECT_NE(prov.at("command").get<std::string>().find("1a --quick -q --threads 1 --seed-base 7"), std::string::npos);
  EXPECT_NE(prov.at("command").get<std::string>().find("r\xef\xbf\xbd.md"), std::string::npos) << prov.at("command");
  EXPECT_FALSE(parts[0].at("paper_figure").get<std::string>().empty());
  const std::string text = read_text(md);
  EXPECT_EQ(text.rfind("## 1a. ", 0), 0u) << text.substr(0, 80);
  EXPECT_NE(text.find("| arm | test acc % per seed | mean | sd | min | max |"), std::string::npos);
  EXPECT_NE(text.find("- **PASS** nearest: no stored weight changes"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
#endif  // QREPRO_PATH
