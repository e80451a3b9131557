// qtrain: trains an MLP or a CNN on Fashion-MNIST in any simulated number format.
// `qtrain` alone trains LeNet with 8-bit block floating point for 2 epochs; see --help.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>

#include "examples/qtrain/cli.h"
#include "examples/qtrain/compare.h"
#include "examples/qtrain/sweep.h"
#include "examples/qtrain/trainer.h"
#include "examples/common/mpi_start.h"
#include "qtorch/dist/communicator.h"

namespace {

// How idle OpenMP workers wait decides both speed and robustness. libgomp's default spins
// for about 300 000 pause loops at the end of every parallel region; on a machine whose
// cores are shared (other processes) the spinning threads steal the cores their partners
// need, and an MLP epoch measured 16-32 s instead of 1.2 s. Sleeping at once
// (OMP_WAIT_POLICY=passive) is robust but pays a wake-up of tens of microseconds per
// region: fp32 MLP 87 000 samples/s. A short spin (GOMP_SPINCOUNT=3000, tens of
// microseconds) keeps back-to-back regions warm: 119 000 samples/s on idle cores (block8:
// 94 000 against 68 000), and about half the passive speed when another process keeps a
// core busy. libgomp reads these variables once, when it is loaded, so the only way to
// set them for this process is to run it again with them set. Either variable set
// explicitly is respected.
void ensure_short_openmp_spins(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  ::setenv("GOMP_SPINCOUNT", "3000", 1);
  ::execv("/proc/self/exe", argv);
  // execv only returns on failure: go on with the default policy.
}

}  // namespace

int main(int argc, char** argv) {
  ensure_short_openmp_spins(argv);
  const std::unique_ptr<qtorch::dist::Session> mpi = qtorch::examples::start_mpi(&argc, &argv, "qtrain");
  if (!mpi) return 2;
  qtrain::Config config;
  // Every rank parses the same command line, unless a launch gave the ranks different ones:
  // a rank that stops alone must end the run, not leave the others waiting (a hang).
  if (std::optional<int> code = qtrain::parse_command_line(argc, argv, config))
    return *code == 0 ? 0 : qtorch::dist::end_run_on_error(*code);
  if (qtorch::dist::world()->rank() != 0) {
    // Only rank 0 prints, writes metrics, checkpoints and plots; the others train (or run
    // their share of a sweep) silently and report errors on stderr.
    if (std::freopen("/dev/null", "w", stdout) == nullptr) return 1;
    config.progress = false;
    config.metrics_path.clear();
    config.plot_path.clear();
    config.checkpoint_path.clear();
  }
  try {
    if (!config.sweep_path.empty()) return qtrain::run_sweep(config);
    if (!config.compare.empty()) return qtrain::run_compare(config);
    // Every rank decides to stop a diverged run together (on the loss reduced over the ranks);
    // any other failure may be one rank's alone (its data folder, a file it writes).
    const int code = qtrain::run_training(config);
    return code == 0 || code == qtrain::kDiverged ? code : qtorch::dist::end_run_on_error(code);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qtrain: error: %s\n", e.what());
    return qtorch::dist::end_run_on_error(1);  // an error one rank met alone must not hang the others
  }
}
