// Parsing --schedule and --loss-scale.
#include "examples/qtrain/text_specs.h"

#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "examples/common/option_number.h"

namespace qtrain {
namespace {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t pos = text.find(sep, start);
    parts.push_back(text.substr(start, pos - start));
    if (pos == std::string::npos) return parts;
    start = pos + 1;
  }
}

bool to_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(out);
}

}  // namespace

ScheduleSpec parse_schedule(const std::string& text) {
  ScheduleSpec s;
  if (text == "constant") return s;
  if (text == "cosine") {
    s.kind = ScheduleSpec::Cosine;
    return s;
  }
  std::vector<std::string> p = split(text, ':');
  if (p.size() == 3 && p[0] == "step") {
    s.kind = ScheduleSpec::Step;
    s.step_every = qtorch::examples::parse_integer_option("--schedule " + text + ": EVERY", p[1], 1,
                                                          kMaxStepEvery);
    s.gamma = qtorch::examples::parse_real_option(
        "--schedule " + text + ": GAMMA", p[2], [](double g) { return g > 0 && g <= 1; }, "a number in (0, 1]");
    return s;
  }
  throw std::invalid_argument("--schedule: expected constant, cosine or step:EVERY:GAMMA (EVERY an integer "
                              "in [1, " + std::to_string(kMaxStepEvery) + "] epochs, 0 < GAMMA <= 1), got '" +
                              text + "'");
}

LossScaleSpec parse_loss_scale(const std::string& text) {
  LossScaleSpec s;
  if (text.empty() || text == "none") return s;
  if (text == "dynamic") {
    s.kind = LossScaleSpec::Dynamic;
    s.scale = 65536.0;
    return s;
  }
  std::vector<std::string> p = split(text, ':');
  double scale = 0;
  if (p.size() == 2 && (p[0] == "static" || p[0] == "dynamic") && to_double(p[1], scale) &&
      scale > 0) {
    s.kind = p[0] == "static" ? LossScaleSpec::Static : LossScaleSpec::Dynamic;
    s.scale = scale;
    return s;
  }
  throw std::invalid_argument("--loss-scale: expected static:S (S > 0), dynamic or dynamic:S, got '" +
                              text + "'");
}

}  // namespace qtrain
