// What one experiment part reports: the paper's claim, a measured table, PASS/FAIL criteria,
// plot panels; printed as text, written as JSON and drawn with gnuplot.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "examples/common/gnuplot.h"
#include "examples/papers/harness.h"

namespace qrepro {

/// One checked statement: its text, what was measured, and whether it held.
struct Criterion {
  std::string text;
  std::string measured;
  bool pass = false;
};

/// One plot panel: named lines of (x, y) points.
struct Panel {
  std::string title, xlabel, ylabel;
  bool logy = false;
  bool steps = false;  ///< draw as histogram steps instead of lines with points
  std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>> lines;
  /// Vertical marker lines (x, label), e.g. a format's smallest subnormal.
  std::vector<std::pair<double, std::string>> markers;
  /// Named curves with a spread: (x, mean, sd) points, drawn as the mean with a shaded
  /// mean +- sd band (the spread over seeds).
  struct Band {
    std::string name;
    std::vector<std::array<double, 3>> points;
  };
  std::vector<Band> bands;
};

struct PartResult {
  std::string id;        ///< "1a"
  std::string title;     ///< "Gupta et al. 2015: ..."
  std::string citation;  ///< full reference
  std::string claim;     ///< what the paper claims, in one or two sentences
  std::string recipe;    ///< what we run
  /// The paper's own headline figure for this claim, quoted with where it stands in the paper
  /// (or a sentence saying that the text with the number could not be checked).
  std::string paper_figure;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<Criterion> criteria;
  std::vector<std::string> notes;
  std::vector<Panel> panels;
  std::vector<ArmResult> arms;  ///< every run, all seeds
  std::vector<uint64_t> seeds;  ///< seeds of runs that are not training arms (8a's dot products)
  double seconds = 0;

  bool pass() const;
  /// Adds a criterion and returns its result.
  bool check(std::string text, std::string measured, bool pass);
  /// For a --quick run: keeps the criteria at positions `keep` (0-based, in check order), the
  /// mechanisms that hold at the small size, and turns every other one into a note saying that
  /// it is judged only at full size.
  void keep_for_quick(const std::vector<size_t>& keep);
};

/// Options shared by every part.
struct RunOptions {
  bool quick = false;
  int seeds = 0;  ///< 0: the part's default
  std::string data_dir;
  bool verbose = true;  ///< one progress line per finished arm on stderr
  /// The first seed: a part runs seeds seed_base .. seed_base + seeds - 1. 0 (the default)
  /// gives the held-out seeds every criterion is judged on; part 7's thresholds were
  /// calibrated with --seed-base 100 --seeds 3.
  uint64_t seed_base = 0;
};

/// Prints the part's header, claim, table and criteria.
void print_part(const PartResult& part, std::ostream& os);
/// The part as JSON; `provenance` (commit, date, threads, command) is copied in, and the
/// seeds its arms ran are added to it.
nlohmann::json to_json(const PartResult& part, const nlohmann::json& provenance = nlohmann::json::object());
/// The part as a Markdown section of docs/papers.md: claim, the paper's figure, recipe,
/// table, criteria, notes and, when `image` is not empty, the plot at that relative path.
std::string to_markdown(const PartResult& part, const std::string& image);

/// Draws every panel (plus the test accuracy per epoch of the seed-0 arms) into `path`
/// (.png or .svg). Throws std::runtime_error when gnuplot is missing or fails.
void plot_part(const PartResult& part, const std::string& path);
using qtorch::examples::find_gnuplot;

/// Runs arms one after another, printing a progress line per arm when verbose.
std::vector<ArmResult> run_arms(const std::vector<ArmConfig>& arms, const Data& data,
                                const RunOptions& options);

/// Panel of test accuracy per epoch for the given arms (epoch 0: initial model).
Panel accuracy_panel(const std::vector<const ArmResult*>& arms);
/// Panel of one per-epoch quantity of every arm in `runs` (each arm's runs over seeds): the
/// mean over seeds with a mean +- sd band. Epoch 0 (the initial model) is drawn unless skipped.
Panel band_panel(const std::string& title, const std::string& ylabel,
                 const std::vector<std::pair<std::string, std::vector<const ArmResult*>>>& runs,
                 const std::function<double(const EpochLog&)>& f, bool skip_epoch0 = false);
/// Panel of one per-epoch quantity (e.g. update fraction) for the given arms.
Panel epoch_panel(const std::string& title, const std::string& ylabel,
                  const std::vector<const ArmResult*>& arms,
                  const std::function<double(const EpochLog&)>& f, bool skip_epoch0 = true,
                  bool logy = false);

// Formatting helpers for the tables.
std::string pct(double v);    ///< "83.21"
std::string num(double v, int digits = 4);
std::string sci(double v);    ///< "1.2e-03"
std::string signed_pts(double v);  ///< "+1.23"

}  // namespace qrepro
