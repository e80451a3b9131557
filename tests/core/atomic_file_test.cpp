// write_file_atomically (core/): the target is replaced whole or left as it was,
// and no temporary file is left behind on any failure.
#include "qtorch/core/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <fstream>
#include <sstream>

#include "tests/support/temp_dir.h"

namespace qtorch {
namespace {

using qtorch::testing::TempDir;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int files_in(const std::string& dir) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    (void)entry;
    ++n;
  }
  return n;
}

std::string error_of(const std::string& path, const std::string& content) {
  try {
    write_file_atomically(path, content);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(AtomicFile, WritesAndReplacesWithoutLeftovers) {
  TempDir dir("atomic_ok");
  write_file_atomically(dir.file("a.txt"), "first");
  write_file_atomically(dir.file("a.txt"), "second");
  EXPECT_EQ(read_text(dir.file("a.txt")), "second");
  EXPECT_EQ(files_in(dir.str()), 1);
}

// A writer killed mid-write leaves "<path>.tmp.<pid>.<n>"; the next write removes those of
// processes that are gone, once untouched for a minute, and nothing else.
TEST(AtomicFile, RemovesTheTemporariesOfKilledWriters) {
  TempDir dir("atomic_stale");
  const std::string path = dir.file("run.ckpt");
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // a pid no process holds now
  const std::string dead = path + ".tmp." + std::to_string(child) + ".0";
  const std::string fresh = path + ".tmp." + std::to_string(child) + ".1";
  const std::string alive = path + ".tmp." + std::to_string(::getpid()) + ".7";
  const std::string other = dir.file("other.ckpt.tmp." + std::to_string(child) + ".0");
  for (const std::string& f : {dead, fresh, alive, other}) std::ofstream(f) << "partial";
  const auto old = std::filesystem::file_time_type::clock::now() - std::chrono::minutes(5);
  for (const std::string& f : {dead, alive, other}) std::filesystem::last_write_time(f, old);
  write_file_atomically(path, "new");
  EXPECT_FALSE(std::filesystem::exists(dead));
  EXPECT_TRUE(std::filesystem::exists(fresh));  // perhaps a writer on another machine
  EXPECT_TRUE(std::filesystem::exists(alive));  // this process's own
  EXPECT_TRUE(std::filesystem::exists(other));  // another file's
  EXPECT_EQ(read_text(path), "new");
}

// A write that fails part-way (a file-size limit, as under `ulimit -f 1`) keeps the old
// file and removes the temporary.
TEST(AtomicFile, FailedWriteKeepsOldFileAndRemovesTemporary) {
  TempDir dir("atomic_fsize");
  const std::string path = dir.file("m.json");
  write_file_atomically(path, "old");
  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old_limit;
  small.rlim_cur = 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string error = error_of(path, std::string(8192, 'x'));
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_NE(error.find("cannot write '" + path + "': File too large"), std::string::npos) << error;
  EXPECT_EQ(read_text(path), "old");
  EXPECT_EQ(files_in(dir.str()), 1) << "a temporary file was left behind";
}

// A target whose name nearly fills a folder entry (250 of 255 bytes) is writable: the
// temporary beside it gets a name that fits too.
TEST(AtomicFile, LongestFileNamesAreWritable) {
  TempDir dir("atomic_long");
  for (size_t length : {200u, 240u, 250u, 255u}) {
    const std::string name = std::string(length - 5, 'n') + ".json";
    const std::string tmp = temporary_path_beside(dir.file(name));
    EXPECT_LE(tmp.size() - tmp.rfind('/') - 1, 255u) << tmp;
    EXPECT_EQ(tmp.rfind(dir.str(), 0), 0u) << "not beside the target: " << tmp;
    write_file_atomically(dir.file(name), "content");
    EXPECT_EQ(read_text(dir.file(name)), "content");
  }
  EXPECT_EQ(files_in(dir.str()), 4);
}

TEST(AtomicFile, NamesTheFileAndTheOsReason) {
  TempDir dir("atomic_errors");
  std::filesystem::create_directories(dir.file("adir.json"));
  std::string error = error_of(dir.file("adir.json"), "{}");
  EXPECT_NE(error.find("'" + dir.file("adir.json") + "': Is a directory"), std::string::npos) << error;
  EXPECT_EQ(files_in(dir.str()), 1) << "a temporary file was left behind";
  error = error_of(dir.file("missing/m.json"), "{}");
  EXPECT_NE(error.find("'" + dir.file("missing/m.json") + "': No such file or directory"), std::string::npos)
      << error;
  EXPECT_EQ(error_of("/proc/m.json", "{}").find("Success"), std::string::npos);
}

}  // namespace
}  // namespace qtorch
