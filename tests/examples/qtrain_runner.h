// Test helper: runs the qtrain program (or another: run_program) with arguments and captures
// its exit code, stdout and stderr; checks a rejection (expect_rejected); and finds data to
// train on (Fashion-MNIST, or a small synthetic set).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

// tests/CMakeLists.txt defines QTRAIN_PATH (the qtrain program) when examples are built;
// the test files compile to nothing otherwise.

#include "support/temp_dir.h"

namespace qtrain::testing {

struct RunResult {
  int code = -1;
  std::string out, err;
};

inline std::string shell_word(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

using TempDir = qtorch::testing::TempDir;

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Runs `program` with `args`; stderr goes through a file so both streams stay apart.
/// `env` is prepended as shell variable assignments, e.g. "PATH=/nonexistent".
inline RunResult run_program(const std::string& program, const std::vector<std::string>& args,
                             const TempDir& dir, const std::string& env = "") {
  std::string err_path = dir.file("stderr.txt");
  std::string cmd = env.empty() ? std::string() : env + " ";
  cmd.append(shell_word(program));
  for (const std::string& a : args) {
    cmd.push_back(' ');
    cmd.append(shell_word(a));
  }
  cmd.append(" </dev/null 2>");
  cmd.append(shell_word(err_path));
  RunResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = read_text(err_path);
  return r;
}

#ifdef QTRAIN_PATH
/// Runs qtrain with `args` (see run_program).
inline RunResult run_qtrain(const std::vector<std::string>& args, const TempDir& dir,
                            const std::string& env = "") {
  return run_program(QTRAIN_PATH, args, dir, env);
}
#endif

inline void write_idx(const std::string& path, const std::vector<uint32_t>& dims,
                      const std::vector<uint8_t>& data) {
  std::ofstream f(path, std::ios::binary);
  uint8_t magic[4] = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  f.write(reinterpret_cast<const char*>(magic), 4);
  for (uint32_t d : dims) {
    uint8_t b[4] = {uint8_t(d >> 24), uint8_t(d >> 16), uint8_t(d >> 8), uint8_t(d)};
    f.write(reinterpret_cast<const char*>(b), 4);
  }
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

/// Writes a learnable 10-class set of 28x28 images in MNIST layout (raw IDX files):
/// class c lights rows 2c+4 and 2c+5, plus deterministic noise everywhere.
inline void write_synthetic_mnist(const std::string& dir, uint32_t n_train, uint32_t n_test) {
  uint32_t state = 12345;
  auto noise = [&state]() {
    state = state * 1664525u + 1013904223u;
    return static_cast<uint8_t>((state >> 24) % 96);
  };
  for (auto [prefix, n] : {std::pair<const char*, uint32_t>{"train", n_train}, {"t10k", n_test}}) {
    std::vector<uint8_t> images, labels;
    for (uint32_t i = 0; i < n; ++i) {
      uint8_t c = static_cast<uint8_t>(i % 10);
      labels.push_back(c);
      for (int y = 0; y < 28; ++y)
        for (int x = 0; x < 28; ++x)
          images.push_back(y / 2 == c + 2 ? static_cast<uint8_t>(160 + noise() / 2) : noise());
    }
    write_idx(dir + "/" + prefix + "-images-idx3-ubyte", {n, 28, 28}, images);
    write_idx(dir + "/" + prefix + "-labels-idx1-ubyte", {n}, labels);
  }
}

/// The Fashion-MNIST folder when the Debian package is installed, otherwise a synthetic
/// data set written into `dir`.
inline std::string training_data_dir(const TempDir& dir) {
  const std::string fashion = "/usr/share/datasets/fashion-mnist";
  if (std::filesystem::exists(fashion + "/train-images-idx3-ubyte.gz")) return fashion;
  std::string synthetic = dir.file("synthetic");
  std::filesystem::create_directories(synthetic);
  write_synthetic_mnist(synthetic, 600, 200);
  return synthetic;
}

#ifdef QTRAIN_PATH
/// Runs qtrain with `args` (on a tiny synthetic data set unless --data-dir is given) and
/// expects exit code 2 with exactly one stderr line containing every one of `parts`.
inline void expect_rejected(std::vector<std::string> args, std::initializer_list<const char*> parts,
                            const std::string& env = "") {
  TempDir dir("bad");
  bool has_data = false;  // --sweep and --compare take no --data-dir
  for (const std::string& a : args) has_data |= a == "--data-dir" || a == "--sweep" || a == "--compare";
  if (!has_data) {
    write_synthetic_mnist(dir.str(), 20, 10);
    args.insert(args.begin(), {"--data-dir", dir.str()});
  }
  RunResult r = run_qtrain(args, dir, env);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_EQ(r.out.find("epoch"), std::string::npos) << "trained anyway: " << r.out;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
  EXPECT_EQ(r.err.rfind("qtrain: error: ", 0), 0u) << r.err;
  for (const char* p : parts) EXPECT_NE(r.err.find(p), std::string::npos) << "'" << p << "' not in: " << r.err;
}
#endif

}  // namespace qtrain::testing
