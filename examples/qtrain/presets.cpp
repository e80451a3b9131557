// The preset table. Formats use quant's text syntax; roles in the order of Role:
// weight, activation, error, grad, momentum, acc.
#include "examples/qtrain/presets.h"

#include <stdexcept>

namespace qtrain {
namespace {

FormatChoice f(const char* format, const char* rounding) { return {format, rounding}; }

const FormatChoice kFp32 = f("fp32", "nearest");

std::vector<Preset> make_presets() {
  // Stochastic rounding wherever small updates would otherwise round away (weights,
  // gradients, momentum); activations and errors as the papers behind each recipe do.
  // Blocks along axis 0: one exponent per sample for activations and errors, per output
  // unit or channel for weights (LeNet, 10 epochs, seed 0, measured with quantizers also
  // after each ReLU: 0.9071 against 0.9052 with one exponent per weight tensor).
  const FormatChoice b8 = f("block:8:0", "stochastic");
  const FormatChoice b8_weight = b8;
  return {
      {"fp32", "no quantization (float32 everywhere)", {kFp32, kFp32, kFp32, kFp32, kFp32, kFp32}, ""},
      {"block8",
       "8-bit block floating point (one exponent per row: per sample, per output unit), "
       "stochastic, after every linear, conv and batch-norm layer (forward and backward) and for weights, "
       "gradients and momentum",
       {b8_weight, b8, b8, b8_weight, b8_weight, kFp32},
       ""},
      {"fixed16",
       "16-bit fixed point: weights/gradients/momentum with 14 fraction bits, activations 10, "
       "errors 14; stochastic rounding",
       {f("fixed:16:14", "stochastic"), f("fixed:16:10", "stochastic"),
        f("fixed:16:14", "stochastic"), f("fixed:16:14", "stochastic"),
        f("fixed:16:14", "stochastic"), kFp32},
       ""},
      {"bf16",
       "bfloat16 (8-bit exponent, 7-bit mantissa): nearest rounding for activations and errors, "
       "stochastic for weights, gradients and momentum",
       {f("bf16", "stochastic"), f("bf16", "nearest"), f("bf16", "nearest"),
        f("bf16", "stochastic"), f("bf16", "stochastic"), kFp32},
       ""},
      {"fp8",
       "8-bit float e5m2 for weights, activations, errors and gradients (Wang et al. 2018), "
       "fp16 momentum and fp16 stochastic weight accumulation, dynamic loss scaling",
       {f("float:5:2", "nearest"), f("float:5:2", "nearest"), f("float:5:2", "nearest"),
        f("float:5:2", "nearest"), f("fp16", "nearest"), f("fp16", "stochastic")},
       "dynamic"},
      {"hfp8",
       "hybrid 8-bit float (Sun et al. 2019): e4m3 with exponent bias 11 (max 30) for weights "
       "and activations, e5m2 errors and gradients, fp16 momentum and weight accumulation, "
       "dynamic loss scaling",
       {f("hfp8", "nearest"), f("hfp8", "nearest"), f("float:5:2", "nearest"),
        f("float:5:2", "nearest"), f("fp16", "nearest"), f("fp16", "stochastic")},
       "dynamic"},
  };
}

}  // namespace

const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = make_presets();
  return table;
}

std::string preset_names() {
  std::string out;
  for (const Preset& p : presets()) out += (out.empty() ? "" : ", ") + p.name;
  return out;
}

const Preset& find_preset(const std::string& name) {
  for (const Preset& p : presets())
    if (p.name == name) return p;
  throw std::invalid_argument("--preset: unknown preset '" + name + "'; expected one of " +
                              preset_names());
}

}  // namespace qtrain
