// Printing, JSON and gnuplot output of an experiment part, and the arm runner.
#include "examples/papers/report.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
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

void PartResult::keep_for_quick(const std::vector<size_t>& keep) {
  std::vector<Criterion> kept;
  for (size_t i = 0; i < criteria.size(); ++i) {
    if (std::find(keep.begin(), keep.end(), i) != keep.end()) kept.push_back(criteria[i]);
    else notes.push_back("not judged at --quick size (a full-size claim): " + criteria[i].text + " (measured: " +
                         criteria[i].measured + ")");
  }
  criteria = std::move(kept);
}

std::string pct(double v) { return fmt::format("{:.2f}", v); }
std::string num(double v, int digits) { return fmt::format("{:.{}f}", v, digits); }
std::string sci(double v) { return fmt::format("{:.2e}", v); }
std::string signed_pts(double v) { return fmt::format("{:+.2f}", v); }

void print_part(const PartResult& p, std::ostream& os) {
  os << "\n=== " << p.id << "  " << p.title << " ===\n";
  os << "paper:  " << p.citation << "\n";
  os << "claim:  " << p.claim << "\n";
  if (!p.paper_figure.empty()) os << "words:  " << p.paper_figure << "\n";
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

nlohmann::json to_json(const PartResult& p, const nlohmann::json& provenance) {
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
  std::set<uint64_t> seeds(p.seeds.begin(), p.seeds.end());
  for (const auto& a : p.arms) seeds.insert(a.config.training.seed);
  nlohmann::json prov = provenance;
  prov["seeds"] = std::vector<uint64_t>(seeds.begin(), seeds.end());
  return {{"part", p.id},       {"title", p.title}, {"citation", p.citation},
          {"claim", p.claim},   {"paper_figure", p.paper_figure}, {"recipe", p.recipe}, {"table", table},
          {"criteria", crit},   {"notes", p.notes}, {"pass", p.pass()},
          {"seconds", p.seconds}, {"provenance", prov}, {"arms", arms}};
}

std::string to_markdown(const PartResult& p, const std::string& image) {
  auto cell = [](std::string s) {
    for (size_t i = 0; (i = s.find('|', i)) != std::string::npos; i += 2) s.replace(i, 1, "\\|");
    for (size_t i = 0; (i = s.find('<', i)) != std::string::npos; i += 4) s.replace(i, 1, "&lt;");
    return s;
  };
  std::ostringstream md;
  md << "## " << p.id << ". " << cell(p.title) << "\n\n";
  md << "*" << cell(p.citation) << "*\n\n";
  md << "**Claim.** " << cell(p.claim) << "\n\n";
  if (!p.paper_figure.empty()) md << "**The paper's own words.** " << cell(p.paper_figure) << "\n\n";
  md << "**We run.** " << cell(p.recipe) << "\n\n";
  md << "|";
  for (const auto& c : p.columns) md << " " << cell(c) << " |";
  md << "\n|";
  for (size_t i = 0; i < p.columns.size(); ++i) md << " --- |";
  md << "\n";
  for (const auto& row : p.rows) {
    md << "|";
    for (size_t c = 0; c < p.columns.size(); ++c) md << " " << (c < row.size() ? cell(row[c]) : "") << " |";
    md << "\n";
  }
  md << "\n**Criteria** (" << (p.pass() ? "all hold: PASS" : "FAIL") << fmt::format(", {:.0f} s):\n\n", p.seconds);
  for (const auto& c : p.criteria)
    md << "- **" << (c.pass ? "PASS" : "FAIL") << "** " << cell(c.text) << ". Measured: " << cell(c.measured) << "\n";
  if (!p.notes.empty()) md << "\n";
  for (const auto& n : p.notes) md << "- Note: " << cell(n) << "\n";
  if (!image.empty()) md << "\n![part " << p.id << "](" << image << ")\n";
  md << "\n";
  return md.str();
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

Panel band_panel(const std::string& title, const std::string& ylabel,
                 const std::vector<std::pair<std::string, std::vector<const ArmResult*>>>& runs,
                 const std::function<double(const EpochLog&)>& f, bool skip_epoch0) {
  Panel p;
  p.title = title;
  p.xlabel = "epoch";
  p.ylabel = ylabel;
  for (const auto& [name, arms] : runs) {
    Panel::Band band{name, {}};
    size_t epochs = SIZE_MAX;
    for (const ArmResult* a : arms) epochs = std::min(epochs, a->epochs.size());
    for (size_t e = 0; !arms.empty() && e < epochs; ++e) {
      if (skip_epoch0 && arms.front()->epochs[e].epoch == 0) continue;
      double sum = 0, sq = 0;
      for (const ArmResult* a : arms) sum += f(a->epochs[e]);
      const double mean = sum / double(arms.size());
      for (const ArmResult* a : arms) sq += (f(a->epochs[e]) - mean) * (f(a->epochs[e]) - mean);
      const double sd = arms.size() > 1 ? std::sqrt(sq / double(arms.size() - 1)) : 0.0;
      band.points.push_back({double(arms.front()->epochs[e].epoch), mean, sd});
    }
    p.bands.push_back(band);
  }
  return p;
}

namespace {

// The gnuplot terminal for the file's extension (.svg or .png), sized for the panels.
std::string terminal_for(const std::vector<Panel>& panels, const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  const int cols = panels.size() > 1 ? 2 : 1;
  const int rows = int((panels.size() + 1) / 2);
  const int w = 520 * cols, h = 340 * rows + 40;
  if (ext == ".svg")
    return "set terminal svg size " + std::to_string(w) + "," + std::to_string(h) + " dynamic background rgb 'white'";
  if (ext == ".png") return "set terminal pngcairo size " + std::to_string(w) + "," + std::to_string(h) + " font ',9'";
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
  for (size_t p = 0; p < panels.size(); ++p)
    for (size_t b = 0; b < panels[p].bands.size(); ++b) {
      s << "$b" << p << "_" << b << " << EOD\n";
      for (const auto& [x, mean, sd] : panels[p].bands[b].points) s << x << ' ' << mean << ' ' << sd << '\n';
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
    for (size_t b = 0; b < pn.bands.size(); ++b) {
      if (b || !pn.lines.empty()) s << ", ";
      const std::string data = "$b" + std::to_string(p) + "_" + std::to_string(b);
      const std::string color = " lc " + std::to_string(b + 1);
      s << data << " using 1:($2-$3):($2+$3) with filledcurves fs transparent solid 0.2 noborder" << color
        << " notitle, " << data << " using 1:2 with linespoints pt 7 ps 0.5 lw 1.5" << color << " title "
        << qtorch::examples::gnuplot_string(pn.bands[b].name);
    }
    if (pn.lines.empty() && pn.bands.empty()) s << "NaN notitle";
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
