// qtrain: trains an MLP or a CNN on Fashion-MNIST in any simulated number format.
// `qtrain` alone trains LeNet with 8-bit block floating point for 2 epochs; see --help.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "examples/qtrain/cli.h"
#include "examples/qtrain/compare.h"
#include "examples/qtrain/trainer.h"

namespace {

// libgomp's default wait policy spins at the end of every parallel region; on a machine
// whose cores are shared (other processes, OpenBLAS threads) the spinning threads steal
// the cores their partners need, and an MLP epoch measured 16-32 s instead of 1.2 s
// (block8: 73-156 s instead of 2.3 s). libgomp reads OMP_WAIT_POLICY once, when it is
// loaded, so the only way to set it for this process is to run it again with the
// variable set. An explicit OMP_WAIT_POLICY (e.g. active) is respected.
void ensure_passive_openmp_waits(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  ::setenv("OMP_WAIT_POLICY", "passive", 1);
  ::execv("/proc/self/exe", argv);
  // execv only returns on failure: go on with the default policy.
}

}  // namespace

int main(int argc, char** argv) {
  ensure_passive_openmp_waits(argv);
  qtrain::Config config;
  if (std::optional<int> code = qtrain::parse_command_line(argc, argv, config)) return *code;
  try {
    return config.compare.empty() ? qtrain::run_training(config) : qtrain::run_compare(config);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qtrain: error: %s\n", e.what());
    return 1;
  }
}
