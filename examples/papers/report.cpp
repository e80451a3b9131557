// Printing, JSON and gnuplot output of an experiment part, and the arm runner.
#include "examples/papers/report.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace qrepro {

bool PartResult::pass() const {
  return std::all_of(criteria.begin(), criteria.end(), [](const Criterion& c) { return c.pass; });
}

bool PartResult::check(std::string text, std::string measured, bool ok) {
  criteria.push_back({std::move(text), std::move(measured), ok});
  return ok;
}

std::string pct(double v) { return fmt::format("{:.2f}", v); }
std::string num(double v, int digits) { return fmt::format("{:.{}f}", v, digits); }
std::string sci(double v) { return fmt::format("{:.2e}", v); }
std::string signed_pts(double v) { return fmt::format("{:+.2f}", v); }

void print_part(const PartResult& p, std::ostream& os) {
  os << "\n=== " << p.id << "  " << p.title << " ===\n";
  os << "paper:  " << p.citation << "\n";
  os << "claim:  " << p.claim << "\n";
  os << "we run: " << p.recipe << "\n\n";
  std::vector<size_t> width(p.columns.size(), 0);
  for (size_t c = 0; c < p.columns.size(); ++c) width[c] = p.columns[c].size();
  for (const auto& row : p.rows)
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
  auto line = [&](const std::vector<std::string>& cells) {
    os << "  ";
    for (size_t c = 0; c < width.size(); ++c) {
      std::string cell = c < cells.size() ? cells[c] : "";
      os << cell << std::string(width[c] - std::min(width[c], cell.size()) + 2, ' ');
    }
    os << "\n";
  };
  line(p.columns);
  size_t total = 0;
  for (size_t w : width) total += w + 2;
  os << "  " << std::string(total, '-') << "\n";
  for (const auto& row : p.rows) line(row);
  os << "\n";
  for (const auto& c : p.criteria)
    os << "  [" << (c.pass ? "PASS" : "FAIL") << "] " << c.text << "  (measured: " << c.measured << ")\n";
  for (const auto& n : p.notes) os << "  note: " << n << "\n";
  os << "  => " << p.id << " " << (p.pass() ? "PASS" : "FAIL") << fmt::format("  ({:.0f} s)\n", p.seconds);
  os.flush();
}

nlohmann::json to_json(const PartResult& p) {
  nlohmann::json crit = nlohmann::json::array();
  for (const auto& c : p.criteria) crit.push_back({{"text", c.text}, {"measured", c.measured}, {"pass", c.pass}});
  nlohmann::json table = nlohmann::json::array();
  for (const auto& row : p.rows) {
    nlohmann::json r = nlohmann::json::object();
    for (size_t c = 0; c < row.size() && c < p.columns.size(); ++c) r[p.columns[c]] = row[c];
    table.push_back(r);
  }
  nlohmann::json arms = nlohmann::json::array();
  for (const auto& a : p.arms) arms.push_back(to_json(a));
  return {{"part", p.id},       {"title", p.title}, {"citation", p.citation},
          {"claim", p.claim},   {"recipe", p.recipe}, {"table", table},
          {"criteria", crit},   {"notes", p.notes}, {"pass", p.pass()},
          {"seconds", p.seconds}, {"arms", arms}};
}

std::vector<ArmResult> run_arms(const std::vector<ArmConfig>& arms, const Data& data,
                                const RunOptions& options) {
  std::vector<ArmResult> out;
  for (const auto& a : arms) {
    out.push_back(run_arm(a, data));
    if (options.verbose) {
      const ArmResult& r = out.back();
      std::cerr << fmt::format("  [arm] {:<28} seed {}  test {:6.2f}%  {:5.1f} s  ({})\n", a.name, a.training.seed,
                               r.test_accuracy, r.seconds, a.describe());
    }
  }
  return out;
}

Panel accuracy_panel(const std::vector<const ArmResult*>& arms) {
  Panel p;
  p.title = "test accuracy";
  p.xlabel = "epoch";
  p.ylabel = std::string(1, '%');  // not = "%": g++ 12 false -Wrestrict (PR 105329)
  for (const ArmResult* a : arms) {
    std::vector<std::pair<double, double>> pts;
    for (const auto& e : a->epochs) pts.emplace_back(double(e.epoch), e.test_accuracy);
    p.lines.emplace_back(a->config.name, pts);
  }
  return p;
}

Panel epoch_panel(const std::string& title, const std::string& ylabel,
                  const std::vector<const ArmResult*>& arms,
                  const std::function<double(const EpochLog&)>& f, bool skip_epoch0, bool logy) {
  Panel p;
  p.title = title;
  p.xlabel = "epoch";
  p.ylabel = ylabel;
  p.logy = logy;
  for (const ArmResult* a : arms) {
    std::vector<std::pair<double, double>> pts;
    for (const auto& e : a->epochs)
      if (!(skip_epoch0 && e.epoch == 0)) pts.emplace_back(double(e.epoch), f(e));
    p.lines.emplace_back(a->config.name, pts);
  }
  return p;
}

namespace {

// The gnuplot terminal for the file's extension (.svg or .png), sized for the panels.
std::string terminal_for(const std::vector<Panel>& panels, const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  const int cols = panels.size() > 1 ? 2 : 1;
  const int rows = int((panels.size() + 1) / 2);
  const int w = 620 * cols, h = 420 * rows + 40;
  if (ext == ".svg")
    return "set terminal svg size " + std::to_string(w) + "," + std::to_string(h) + " dynamic background rgb 'white'";
  if (ext == ".png") return "set terminal pngcairo size " + std::to_string(w) + "," + std::to_string(h);
  throw std::runtime_error("--plot: expected a file name ending in .png or .svg, got '" + path + "'");
}

// The data blocks and plot commands (everything after `set output`).
std::string plot_commands(const PartResult& part, const std::vector<Panel>& panels) {
  std::ostringstream s;
  s.precision(9);
  const int cols = panels.size() > 1 ? 2 : 1;
  const int rows = int((panels.size() + 1) / 2);
  for (size_t p = 0; p < panels.size(); ++p)
    for (size_t l = 0; l < panels[p].lines.size(); ++l) {
      s << "$d" << p << "_" << l << " << EOD\n";
      for (const auto& [x, y] : panels[p].lines[l].second) s << x << ' ' << y << '\n';
      s << "EOD\n";
    }
  s << "set multiplot layout " << rows << "," << cols << " title "
    << qtorch::examples::gnuplot_string(part.id + "  " + part.title) << "\n";
  s << "set grid\nset key bottom right font ',9'\n";
  for (size_t p = 0; p < panels.size(); ++p) {
    const Panel& pn = panels[p];
    s << "unset arrow\nunset label\n";
    s << "set title " << qtorch::examples::gnuplot_string(pn.title) << "\nset xlabel " << qtorch::examples::gnuplot_string(pn.xlabel)
      << "\nset ylabel " << qtorch::examples::gnuplot_string(pn.ylabel) << "\n";
    s << (pn.logy ? "set logscale y\n" : "unset logscale y\n");
    int m = 0;
    for (const auto& [x, label] : pn.markers) {
      s << "set arrow from " << x << ", graph 0 to " << x << ", graph 1 nohead dt 2 lc rgb 'red'\n";
      s << "set label " << ++m << " " << qtorch::examples::gnuplot_string(label) << " at " << x << ", graph 0.95 left offset 0.5,0 tc rgb 'red' font ',9'\n";
    }
    s << "plot ";
    for (size_t l = 0; l < pn.lines.size(); ++l) {
      if (l) s << ", ";
      s << "$d" << p << "_" << l << " using 1:2 with " << (pn.steps ? "steps" : "linespoints pt 7 ps 0.6")
        << " lw 1.5 title " << qtorch::examples::gnuplot_string(pn.lines[l].first);
    }
    if (pn.lines.empty()) s << "NaN notitle";
    s << "\n";
  }
  s << "unset multiplot\n";
  return s.str();
}

}  // namespace

void plot_part(const PartResult& part, const std::string& path) {
  qtorch::examples::run_gnuplot(terminal_for(part.panels, path), plot_commands(part, part.panels), path, "--plot",
                                "qrepro_" + part.id);
}

}  // namespace qrepro
