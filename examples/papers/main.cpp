// qrepro: reproduces six low-precision training results on Fashion-MNIST, one part at a time.
//   qrepro <part|paper|all> [--quick] [--seeds N] [--json FILE] [--plot FILE] [--data DIR]
// Exit status: 0 when every criterion holds, 1 when an effect fails to show, 2 for bad usage.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "core/threads.h"
#include "examples/common/atomic_file.h"
#include "examples/papers/experiments.h"

namespace {

// FILE for a single part, FILE-<part>.ext when several parts share one --plot option.
std::string plot_path(const std::string& path, const std::string& id, bool several) {
  if (!several) return path;
  std::filesystem::path p(path);
  return (p.parent_path() / (p.stem().string() + "-" + id + p.extension().string())).string();
}

std::string list_text() {
  std::string s = "parts:\n";
  for (const auto& p : qrepro::all_parts()) s += "  " + p.id + "  (" + p.paper + ")  " + p.summary + "\n";
  s += "a paper number (1-6) or name runs all its parts; 'all' runs everything\n";
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qrepro: low-precision training papers reproduced on Fashion-MNIST"};
  std::string which;
  qrepro::RunOptions options;
  std::string json_path, plot, data_dir;
  int threads = 1;
  bool list = false, quiet = false;
  app.add_option("experiment", which, "part (1a, 1b, 2, 3a, 3b, 4, 5a, 5b, 6), paper (1-6, gupta, "
                                      "courbariaux, swalp, loss-scaling, fp8, bf16) or all");
  app.add_flag("--quick", options.quick, "shorter runs (subsets / fewer epochs) for smoke tests and CI");
  app.add_option("--seeds", options.seeds, "seeds per arm (default: the part's own, 1 or 3)")
      ->check(CLI::Range(1, 100));
  app.add_option("--json", json_path, "write every result (tables, criteria, per-epoch logs) as JSON");
  app.add_option("--plot", plot, "draw the plots with gnuplot into FILE (.png or .svg; FILE-<part>.png "
                                 "when several parts run)");
  app.add_option("--data", data_dir, "Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist)");
  app.add_option("--threads", threads,
                 "CPU threads (default 1: results do not depend on it, and on a shared 2-core machine "
                 "one thread is several times faster than two spinning OpenMP threads)")
      ->check(CLI::Range(1, 256));
  app.add_flag("--list", list, "list the parts and exit");
  app.add_flag("-q,--quiet", quiet, "no progress line per arm");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (list) {
    std::cout << list_text();
    return 0;
  }
  auto parts = qrepro::select_parts(which);
  if (parts.empty()) {
    std::cerr << "qrepro: error: unknown experiment '" << which << "'\n" << list_text();
    return 2;
  }
  if (!plot.empty()) {
    std::string ext = std::filesystem::path(plot).extension().string();
    if (ext != ".png" && ext != ".svg") {
      std::cerr << "qrepro: error: --plot: expected a file ending in .png or .svg, got '" << plot << "'\n";
      return 2;
    }
    if (qrepro::find_gnuplot().empty())
      std::cerr << "qrepro: warning: gnuplot is not installed, so no plot will be drawn: install the "
                   "Debian package gnuplot-nox\n";
  }
  qtorch::set_num_threads(threads);
  options.verbose = !quiet;
  options.data_dir = data_dir;

  const qrepro::Data* data = nullptr;
  try {
    data = &qrepro::fashion_mnist(data_dir);
  } catch (const std::exception& e) {
    std::cerr << "qrepro: error: " << e.what() << "\n";
    return 2;
  }

  nlohmann::json out = nlohmann::json::array();
  bool all_pass = true;
  for (const qrepro::PartInfo* info : parts) {
    qrepro::PartResult r;
    try {
      r = info->run(options, *data);
    } catch (const std::exception& e) {
      std::cerr << "qrepro: error in part " << info->id << ": " << e.what() << "\n";
      return 1;
    }
    qrepro::print_part(r, std::cout);
    all_pass = all_pass && r.pass();
    out.push_back(qrepro::to_json(r));
    if (!plot.empty() && !qrepro::find_gnuplot().empty()) {
      std::string path = plot_path(plot, r.id, parts.size() > 1);
      try {
        qrepro::plot_part(r, path);
        std::cout << "  plot: " << path << "\n";
      } catch (const std::exception& e) {
        std::cerr << "qrepro: warning: " << e.what() << "\n";
      }
    }
    if (!json_path.empty()) {  // rewritten after every part, so a long run keeps what it has
      try {
        qtorch::examples::write_file_atomically(json_path, out.dump(2) + "\n");
      } catch (const std::exception& e) {
        std::cerr << "qrepro: error: --json: " << e.what() << "\n";
        return 2;
      }
    }
  }
  std::cout << "\nqrepro: " << (all_pass ? "every effect showed (PASS)" : "some effect failed to show (FAIL)")
            << "\n";
  return all_pass ? 0 : 1;
}
