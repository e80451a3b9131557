// Parsing --quantize-after.
#include "examples/qtrain/placement.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "core/error.h"

namespace qtrain {

namespace nn = qtorch::nn;

namespace {
// Canonical order and names.
const std::pair<nn::LayerKind, const char*> kKinds[] = {{nn::LayerKind::Linear, "linear"},
                                                        {nn::LayerKind::Conv, "conv"},
                                                        {nn::LayerKind::Normalization, "normalization"},
                                                        {nn::LayerKind::Activation, "activation"},
                                                        {nn::LayerKind::Pooling, "pooling"}};
}  // namespace

std::vector<nn::LayerKind> parse_quantize_after(const std::string& text) {
  const std::string expected = "a comma-separated list of linear, conv, normalization, activation, pooling, or all";
  if (text == "all") {
    std::vector<nn::LayerKind> all;
    for (const auto& [kind, name] : kKinds) all.push_back(kind);
    return all;
  }
  std::vector<nn::LayerKind> kinds;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string name = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (name.empty())
      throw std::invalid_argument("--quantize-after: expected " + expected + ", got '" + text + "' (an empty kind)");
    nn::LayerKind kind;
    try {
      kind = nn::parse_layer_kind(name);
    } catch (const qtorch::Error&) {
      throw std::invalid_argument("--quantize-after: expected " + expected + ", got '" + name + "' in '" + text + "'");
    }
    if (std::find(kinds.begin(), kinds.end(), kind) != kinds.end())
      throw std::invalid_argument("--quantize-after: '" + name + "' is named twice in '" + text + "'");
    kinds.push_back(kind);
    if (comma == std::string::npos) return kinds;
    start = comma + 1;
  }
}

std::string quantize_after_text(const std::vector<nn::LayerKind>& kinds) {
  std::string text;
  for (const auto& [kind, name] : kKinds) {
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) continue;
    if (!text.empty()) text += ',';
    text += name;
  }
  return text;
}

}  // namespace qtrain
