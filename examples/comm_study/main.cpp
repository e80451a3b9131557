// qcomm: does training survive gradients exchanged in 8 or 4 bits? Run it under MPI:
//   mpirun -np 2 qcomm                       # seeds 0-4, the held-out judgement
//   mpirun -np 2 qcomm --seed-base 100 --seeds 3   # the calibration seeds
// Exit status: 0 when every criterion holds, 1 when one fails, 2 for bad usage.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <memory>

#include "examples/comm_study/study.h"
#include "examples/common/mpi_start.h"
#include "qtorch/core/atomic_file.h"
#include "qtorch/core/threads.h"
#include "qtorch/data/mnist.h"
#include "qtorch/dist/communicator.h"

int main(int argc, char** argv) {
  const std::unique_ptr<qtorch::dist::Session> mpi = qtorch::examples::start_mpi(&argc, &argv, "qcomm");
  if (!mpi) return 2;
  qcomm::StudyOptions o;
  o.data_dir = qtorch::data::kFashionMnistDir;
  for (int i = 0; i < argc; ++i) o.command += (i ? " " : "") + std::string(argv[i]);
  std::string json_path;
  int threads = 1;
  CLI::App app{"qcomm: training with gradients exchanged in low precision, data-parallel over MPI processes", "qcomm"};
  app.add_option("--seeds", o.seeds, "number of seeds")->check(CLI::Range(1, 1000));
  app.add_option("--seed-base", o.seed_base, "first seed (calibration: 100)")->check(CLI::Range(0, 1000000));
  app.add_option("--epochs", o.epochs, "epochs per run")->check(CLI::Range(1, 1000));
  app.add_option("--limit-train", o.limit_train, "training images used")->check(CLI::Range(1, 60000));
  app.add_option("--data-dir", o.data_dir, "Fashion-MNIST folder");
  app.add_option("--json", json_path, "write the report (tables, criteria, provenance) to FILE.json");
  app.add_option("--threads", threads, "CPU threads per process")->check(CLI::Range(1, 256));
  app.add_flag("--quick", o.quick, "smoke size (1 seed, 1 epoch, 4000 images): judges only the byte counts");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (o.quick) {
    o.seeds = 1;
    o.epochs = 1;
    o.limit_train = 4000;
  }
  auto world = qtorch::dist::world();
  if (world->size() < 2) {
    std::fprintf(stderr, "qcomm: error: expected at least 2 processes (run it as mpirun -np 2 qcomm), got %d\n",
                 world->size());
    return 2;
  }
  qtorch::set_num_threads(threads);
  try {
    bool passed = false;
    const nlohmann::ordered_json report = qcomm::run_study(o, passed);
    if (world->rank() == 0 && !json_path.empty()) {
      qtorch::write_file_atomically(json_path, report.dump(2) + "\n");
      std::printf("report: %s\n", json_path.c_str());
    }
    // Rank 0 carries the status: a non-zero exit of another rank would make mpirun stop
    // rank 0 before it has written its report.
    return passed || world->rank() != 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qcomm: error: %s\n", e.what());
    return 2;
  }
}
