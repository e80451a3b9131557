// qcomm: does training survive gradients exchanged in 8 or 4 bits? Run it under MPI:
//   mpirun -np 2 qcomm                       # seeds 0-4, the held-out judgement
//   mpirun -np 2 qcomm --seed-base 100 --seeds 3   # the calibration seeds
// Exit status: 0 when every criterion holds, 1 when one fails, 2 for bad usage.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "examples/comm_study/study.h"
#include "examples/common/mpi_start.h"
#include "examples/common/option_number.h"
#include "examples/common/option_values.h"
#include "examples/common/output_path.h"
#include "qtorch/core/atomic_file.h"
#include "qtorch/core/threads.h"
#include "qtorch/data/mnist.h"
#include "qtorch/dist/communicator.h"

int main(int argc, char** argv) {
  using qtorch::examples::parse_integer_option;
  const std::unique_ptr<qtorch::dist::Session> mpi = qtorch::examples::start_mpi(&argc, &argv, "qcomm");
  if (!mpi) return 2;
  qcomm::StudyOptions o;
  o.data_dir = qtorch::data::kFashionMnistDir;
  for (int i = 0; i < argc; ++i) o.command += (i ? " " : "") + std::string(argv[i]);
  std::string json_path;
  // Numbers are read as text and parsed with the range in the message ("" is not 0, "0x10"
  // is not 16), as qtrain and qrepro read theirs.
  std::string seeds, seed_base, epochs, limit_train, threads = "1";
  CLI::App app{"qcomm: training with gradients exchanged in low precision, data-parallel over MPI processes", "qcomm"};
  auto* seeds_option = app.add_option("--seeds", seeds, "number of seeds, 1 to 1000 (default 5)")->type_name("INT");
  auto* seed_base_option =
      app.add_option("--seed-base", seed_base, "first seed, 0 to 1000000 (default 0; calibration: 100)")->type_name("INT");
  auto* epochs_option = app.add_option("--epochs", epochs, "epochs per run, 1 to 1000 (default 2)")->type_name("INT");
  auto* limit_option =
      app.add_option("--limit-train", limit_train, "training images used, 1 to 60000 (default 20000)")->type_name("INT");
  app.add_option("--data-dir", o.data_dir, "Fashion-MNIST folder");
  app.add_option("--json", json_path, "write the report (tables, criteria, provenance) to FILE.json");
  app.add_option("--threads", threads, "CPU threads per process, 1 to 256 (default 1)")->type_name("INT");
  app.add_flag("--quick", o.quick, "smoke size (1 seed, 1 epoch, 4000 images): judges only the byte counts");
  int thread_count = 1;
  try {
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::ParseError& e) {
      throw std::invalid_argument(std::string(e.what()) + " (see qcomm --help)");
    }
    qtorch::examples::refuse_empty_values(app, {{"--json", "a file name"}, {"--data-dir", "a folder"}});
    if (seeds_option->count()) o.seeds = parse_integer_option("--seeds", seeds, 1, 1000);
    if (seed_base_option->count()) o.seed_base = parse_integer_option("--seed-base", seed_base, 0, 1000000);
    if (epochs_option->count()) o.epochs = parse_integer_option("--epochs", epochs, 1, 1000);
    if (limit_option->count())
      o.limit_train = parse_integer_option("--limit-train", limit_train, 1, 60000);
    thread_count = static_cast<int>(parse_integer_option("--threads", threads, 1, 256));
    if (o.quick) {
      for (const auto* given : {seeds_option, epochs_option, limit_option})
        if (given->count())
          throw std::invalid_argument("--quick sets --seeds, --epochs and --limit-train itself: expected none of "
                                      "them with it, got " + given->get_name());
      o.seeds = 1;
      o.epochs = 1;
      o.limit_train = 4000;
    }
    if (!json_path.empty() && std::filesystem::path(json_path).extension() != ".json")
      throw std::invalid_argument("--json: expected a file ending in .json, got '" + json_path + "'");
    qtorch::examples::check_output_path("--json", json_path);  // before the study, not after it
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "qcomm: error: %s\n", e.what());
    return 2;
  }
  auto world = qtorch::dist::world();
  if (world->size() < 2) {
    std::fprintf(stderr, "qcomm: error: expected at least 2 processes (run it as mpirun -np 2 qcomm), got %d\n",
                 world->size());
    return 2;
  }
  qtorch::set_num_threads(thread_count);
  try {
    bool passed = false;
    const nlohmann::ordered_json report = qcomm::run_study(o, passed);
    if (world->rank() == 0 && !json_path.empty()) {
      qtorch::write_file_atomically(  // bytes that are not UTF-8 (a file name) become U+FFFD
          json_path, report.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
      std::printf("report: %s\n", json_path.c_str());
    }
    // Rank 0 carries the status: a non-zero exit of another rank would make mpirun stop
    // rank 0 before it has written its report.
    return passed || world->rank() != 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qcomm: error: %s\n", e.what());
    return qtorch::dist::end_run_on_error(2);  // an error one rank met alone must not hang the others
  }
}
