// qrepro: reproduces eight low-precision training results on Fashion-MNIST, one part at a time.
//   qrepro <part|paper|all> [--quick] [--seeds N] [--seed-base S] [--json FILE] [--plot FILE]
//          [--markdown FILE] [--data DIR]
// Exit status: 0 when every criterion holds, 1 when an effect fails to show, 2 for bad usage.
#include <CLI/CLI.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "qtorch/core/atomic_file.h"
#include "qtorch/core/threads.h"
#include "qtorch/dist/communicator.h"
#include "examples/common/mpi_start.h"
#include "examples/common/option_number.h"
#include "examples/common/option_values.h"
#include "examples/common/output_path.h"
#include "examples/papers/experiments.h"
#include "examples/papers/provenance.h"

namespace {

using qtorch::examples::check_distinct_outputs;
using qtorch::examples::check_output_path;
using qtorch::examples::parse_integer_option;

// FILE for a single part, FILE-<part>.ext when several parts share one --plot option.
std::string plot_path(const std::string& path, const std::string& id, bool several) {
  if (!several) return path;
  std::filesystem::path p(path);
  return (p.parent_path() / (p.stem().string() + "-" + id + p.extension().string())).string();
}

std::string list_text() {
  std::string s = "parts:\n";
  for (const auto& p : qrepro::all_parts()) s += "  " + p.id + "  (" + p.paper + ")  " + p.summary + "\n";
  s += "a paper number (1-8) or name runs all its parts; 'all' runs everything\n";
  return s;
}

// The experiment argument: one line on a bad or missing name, as for every other option.
std::vector<const qrepro::PartInfo*> parts_to_run(const std::string& which, bool given) {
  if (!given) throw std::invalid_argument("missing the experiment to run (--list shows them)");
  auto parts = qrepro::select_parts(which);
  if (parts.empty())
    throw std::invalid_argument("expected an experiment (1a..8c, a paper name or all; --list shows them), got '" +
                                which + "'");
  return parts;
}

}  // namespace

int main(int argc, char** argv) {
  const std::unique_ptr<qtorch::dist::Session> mpi = qtorch::examples::start_mpi(&argc, &argv, "qrepro");
  if (!mpi) return 2;
  CLI::App app{"qrepro: low-precision training papers reproduced on Fashion-MNIST"};
  std::string which;
  qrepro::RunOptions options;
  std::string json_path, plot, markdown, data_dir;
  // Numbers are read as text and parsed with the range in the message ("" is not 0).
  std::string seeds, seed_base, threads = "1";
  bool list = false, quiet = false;
  auto* experiment = app.add_option("experiment", which,
                                    "part (1a, 1b, 2, 3a, 3b, 4, 5a, 5b, 6, 7a, 7b, 8a, 8b, 8c), paper (1-8, "
                                    "gupta, courbariaux, swalp, loss-scaling, fp8, bf16, microscaling, "
                                    "accumulation) or all");
  app.add_flag("--quick", options.quick, "shorter runs (subsets / fewer epochs) for smoke tests and CI");
  auto* seeds_option = app.add_option("--seeds", seeds, "seeds per arm, 1 to 100 (default: the part's own, 1, 3 or 5)")
                          ->type_name("INT");
  auto* seed_base_option =
      app.add_option("--seed-base", seed_base,
                     "first seed, 0 to 1000000 (default 0: the held-out seeds 0..N-1 that the criteria are "
                     "judged on; e.g. 100 for calibration seeds)")
          ->type_name("INT");
  app.add_option("--json", json_path, "write every result (tables, criteria, per-epoch logs) as JSON");
  app.add_option("--plot", plot, "draw the plots with gnuplot into FILE (.png or .svg; FILE-<part>.png "
                                 "when several parts run)");
  app.add_option("--markdown", markdown,
                 "write every part as a Markdown section (docs/papers.md); the plot is linked as "
                 "papers/<name of the --plot file>");
  app.add_option("--data", data_dir, "Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist)");
  app.add_option("--threads", threads,
                 "CPU threads, 1 to 256 (default 1: results do not depend on it, and on a shared 2-core "
                 "machine one thread is several times faster than two spinning OpenMP threads)")
      ->type_name("INT");
  app.add_flag("--list", list, "list the parts and exit");
  app.add_flag("-q,--quiet", quiet, "no progress line per arm");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "qrepro: error: " << e.what() << " (see qrepro --help)\n";
    return 2;
  }
  if (list) {
    std::cout << list_text();
    return 0;
  }
  std::vector<const qrepro::PartInfo*> parts;
  int thread_count = 1;
  try {
    qtorch::examples::refuse_empty_values(app, {{"--json", "a file name"},
                                                {"--plot", "a file name"},
                                                {"--markdown", "a file name"},
                                                {"--data", "a folder"}});
    parts = parts_to_run(which, experiment->count() > 0);
    if (seeds_option->count()) options.seeds = static_cast<int>(parse_integer_option("--seeds", seeds, 1, 100));
    if (seed_base_option->count())
      options.seed_base = static_cast<uint64_t>(parse_integer_option("--seed-base", seed_base, 0, 1000000));
    thread_count = static_cast<int>(parse_integer_option("--threads", threads, 1, 256));
    if (!plot.empty()) {
      std::string ext = std::filesystem::path(plot).extension().string();
      if (ext != ".png" && ext != ".svg")
        throw std::invalid_argument("--plot: expected a file ending in .png or .svg, got '" + plot + "'");
    }
    // Up front, so that a long run does not end with nowhere to write its results.
    check_output_path("--json", json_path);
    check_output_path("--plot", plot);
    check_output_path("--markdown", markdown);
    check_distinct_outputs({{"--json", json_path}, {"--plot", plot}, {"--markdown", markdown}});
  } catch (const std::invalid_argument& e) {
    std::cerr << "qrepro: error: " << e.what() << "\n";
    return 2;
  }
  if (!plot.empty() && qrepro::find_gnuplot().empty())
    std::cerr << "qrepro: warning: gnuplot is not installed, so no plot will be drawn: install the "
                 "Debian package gnuplot-nox\n";
  qtorch::set_num_threads(thread_count);
  options.verbose = !quiet;
  options.data_dir = data_dir;

  const qrepro::Data* data = nullptr;
  try {
    data = &qrepro::fashion_mnist(data_dir);
  } catch (const std::exception& e) {
    std::cerr << "qrepro: error: " << e.what() << "\n";
    return 2;
  }

  const nlohmann::json prov = qrepro::provenance(argc, argv, thread_count);
  // One part's outputs, made on whichever process ran it.
  auto run_one = [&](size_t index) {
    const qrepro::PartInfo* info = parts[index];
    nlohmann::json o = {{"index", index}, {"pass", false}};
    try {
      const auto t0 = std::chrono::steady_clock::now();
      qrepro::PartResult r = info->run(options, *data);
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::ostringstream text;
      qrepro::print_part(r, text);
      std::string image;
      if (!plot.empty() && !qrepro::find_gnuplot().empty()) {
        std::string path = plot_path(plot, r.id, parts.size() > 1);
        try {
          qrepro::plot_part(r, path);
          image = "papers/" + std::filesystem::path(path).filename().string();
          text << "  plot: " << path << "\n";
        } catch (const std::exception& e) {
          o["warning"] = e.what();
        }
      }
      o["text"] = text.str();
      o["json"] = qrepro::to_json(r, prov);
      o["markdown"] = qrepro::to_markdown(r, image);
      o["pass"] = r.pass();
    } catch (const std::exception& e) {
      o["error"] = std::string("error in part ") + info->id + ": " + e.what();
    }
    return o;
  };
  nlohmann::json out = nlohmann::json::array();
  std::string md;
  bool all_pass = true, any_error = false;
  // Prints one part's report and rewrites the JSON and Markdown files with every part so
  // far (a long run keeps what it has). Returns false when a file cannot be written.
  auto emit = [&](const nlohmann::json& o) {
    if (o.contains("warning")) std::cerr << "qrepro: warning: " << o["warning"].get<std::string>() << "\n";
    if (o.contains("error")) {
      std::cerr << "qrepro: " << o["error"].get<std::string>() << "\n";
      all_pass = false;
      any_error = true;
      return true;
    }
    std::cout << o["text"].get<std::string>() << std::flush;
    all_pass = all_pass && o["pass"].get<bool>();
    out.push_back(o["json"]);
    md += o["markdown"].get<std::string>();
    try {
      if (!markdown.empty()) qtorch::write_file_atomically(markdown, md);
    } catch (const std::exception& e) {
      std::cerr << "qrepro: error: --markdown: " << e.what() << "\n";
      return false;
    }
    try {
      if (!json_path.empty()) qtorch::write_file_atomically(  // bytes that are not UTF-8 (a file name) become U+FFFD
          json_path, out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    } catch (const std::exception& e) {
      std::cerr << "qrepro: error: --json: " << e.what() << "\n";
      return false;
    }
    return true;
  };
  // Under mpirun the parts are spread over the processes (part i on rank i mod N) and
  // rank 0 reports them in order, as one process would; a part that fails is reported.
  auto world = qtorch::dist::world();
  const size_t rank = static_cast<size_t>(world->rank()), ranks = static_cast<size_t>(world->size());
  if (ranks == 1) {
    for (size_t i = 0; i < parts.size(); ++i)
      if (!emit(run_one(i))) return 2;
  } else {
    if (rank == 0)
      std::cout << "qrepro: " << parts.size() << " parts over " << ranks << " processes (MPI)\n" << std::flush;
    nlohmann::json mine = nlohmann::json::array();
    for (size_t i = rank; i < parts.size(); i += ranks) mine.push_back(run_one(i));
    const std::string text = mine.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const auto all = world->all_gather(std::vector<uint8_t>(text.begin(), text.end()));
    std::vector<nlohmann::json> by_part(parts.size());
    for (const auto& bytes : all)
      for (const auto& o : nlohmann::json::parse(std::string(bytes.begin(), bytes.end())))
        by_part[o["index"].get<size_t>()] = o;
    // Rank 0 reports and carries the exit status: a non-zero status from another rank would
    // make mpirun stop rank 0 before it has written everything.
    if (rank != 0) return 0;
    for (const auto& o : by_part)
      if (!emit(o)) return 2;
  }
  if (any_error) {  // not a FAIL of a criterion: a part could not run
    std::cout << "\nqrepro: a part stopped with an error (see above)\n";
    return 2;
  }
  std::cout << "\nqrepro: " << (all_pass ? "every effect showed (PASS)" : "some effect failed to show (FAIL)")
            << "\n";
  return all_pass ? 0 : 1;
}
