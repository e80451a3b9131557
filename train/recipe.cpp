// Recipes: text form, validation and the preset table.
#include "qtorch/train/recipe.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "qtorch/core/error.h"
#include "qtorch/dist/payload.h"
#include "qtorch/optim/loss_scaler.h"
#include "qtorch/quant/quantizer.h"
#include "qtorch/train/text_parsing.h"

namespace qtorch::train {
namespace {

constexpr const char* kRoleNames[] = {"weight", "activation", "error", "grad", "momentum", "acc"};

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// A finite number > 0 spelled out completely ("4096", "1e3").
bool positive_number(const std::string& s, double& out) { return text::read_finite(s, out) && out > 0; }

// A loss scale multiplies float32 values: it must be a normal float32 itself (a larger one
// is not a float32 at all; a smaller one is 0 or loses bits in float32).
bool float32_normal_scale(double v) {
  return v >= std::numeric_limits<float>::min() && v <= std::numeric_limits<float>::max();
}

// A dynamic scale starts inside the range the scaler keeps it in (optim::LossScalerOptions).
bool dynamic_scale_in_range(double v) {
  const optim::LossScalerOptions range;
  return v >= range.min_scale && v <= range.max_scale;
}

std::string dynamic_scale_range() {
  const optim::LossScalerOptions range;
  return fmt::format("[{}, {}]", text::exact(range.min_scale), text::exact(range.max_scale));
}

using text::exact;

// quant's messages start with the function name; `what` replaces it.
std::string reason(const std::exception& e, const char* prefix) {
  std::string m = e.what();
  return m.rfind(prefix, 0) == 0 ? m.substr(std::string(prefix).size()) : m;
}

Recipe make_recipe(std::array<RoleFormat, kNumRoles> roles, LossScaling scaling = {}) {
  Recipe r;
  r.roles = roles;
  r.loss_scaling = scaling;
  return r;
}

// Block-scaled formats for weights, activations, errors and gradients; float32 momentum and
// a float32 master copy of the weights (the block scale makes loss scaling unnecessary).
Recipe microscaling_recipe(RoleFormat weight, RoleFormat activation, RoleFormat error, RoleFormat grad) {
  Recipe r = make_recipe({weight, activation, error, grad, RoleFormat{}, RoleFormat{}});
  r.master_weights = true;
  return r;
}

// float32 tensors; the layers' products accumulate as `mac` says, forward and backward.
Recipe mac_recipe(const std::string& mac) {
  Recipe r;
  r.mac_forward = r.mac_backward = quant::parse_mac(mac);
  return r;
}

std::vector<Preset> make_presets() {
  const Rounding sr = Rounding::Stochastic, rn = Rounding::Nearest, ne = Rounding::NearestEven;
  auto f = [](const char* text, Rounding rounding) { return RoleFormat{parse_number(text), rounding}; };
  const RoleFormat fp32{};
  const LossScaling dynamic{LossScaling::Kind::Dynamic, 65536.0, 2000};
  // Blocks along axis 0: one exponent per sample for activations and errors, per output
  // unit or channel for weights (LeNet, 10 epochs, seed 0: 0.9071 against 0.9052 with one
  // exponent per weight tensor).
  const RoleFormat b8 = f("block:8:0", sr);
  const RoleFormat e5m2 = f("float:5:2", rn), fp16_rn = f("fp16", rn), fp16_sr = f("fp16", sr);
  return {
      {"fp32", "no quantization (float32 everywhere)", Recipe{}},
      {"block8",
       "8-bit block floating point (one exponent per row: per sample, per output unit), stochastic, after "
       "every linear, conv and batch-norm layer (forward and backward) and for weights, gradients and momentum",
       make_recipe({b8, b8, b8, b8, b8, fp32})},
      {"fixed16",
       "16-bit fixed point: weights/gradients/momentum with 14 fraction bits, activations 10, errors 14; "
       "stochastic rounding",
       make_recipe({f("fixed:16:14", sr), f("fixed:16:10", sr), f("fixed:16:14", sr), f("fixed:16:14", sr),
                    f("fixed:16:14", sr), fp32})},
      {"bf16",
       "bfloat16 (8-bit exponent, 7-bit mantissa): nearest rounding for activations and errors, stochastic for "
       "weights, gradients and momentum",
       make_recipe({f("bf16", sr), f("bf16", rn), f("bf16", rn), f("bf16", sr), f("bf16", sr), fp32})},
      {"fp8",
       "8-bit float float:5:2 (5 exponent and 2 mantissa bits in the reference range: max 114688, saturating; "
       "not the IEEE-range e5m2) for weights, activations, errors and gradients (Wang et al. 2018), fp16 momentum and "
       "fp16 stochastic weight accumulation, dynamic loss scaling",
       make_recipe({e5m2, e5m2, e5m2, e5m2, fp16_rn, fp16_sr}, dynamic)},
      {"hfp8",
       "hybrid 8-bit float (Sun et al. 2019): e4m3 with exponent bias 11 (max 30) for weights and activations, "
       "float:5:2 errors and gradients (as fp8), fp16 momentum and weight accumulation, dynamic loss scaling",
       make_recipe({f("hfp8", rn), f("hfp8", rn), e5m2, e5m2, fp16_rn, fp16_sr}, dynamic)},
      {"mxfp8",
       "OCP MXFP8 (Rouhani et al. 2023): e4m3 weights and activations, e5m2 errors and gradients, blocks of 32 "
       "along the last axis, nearest-even; float32 master weights and momentum",
       microscaling_recipe(f("mxfp8", ne), f("mxfp8", ne), f("mxfp8_e5m2", ne), f("mxfp8_e5m2", ne))},
      {"mxfp6",
       "OCP MXFP6: e2m3 weights and activations, e3m2 errors and gradients, blocks of 32 along the last axis, "
       "nearest-even; float32 master weights and momentum",
       microscaling_recipe(f("mxfp6", ne), f("mxfp6", ne), f("mxfp6_e3m2", ne), f("mxfp6_e3m2", ne))},
      {"mxfp4",
       "OCP MXFP4 direct cast: e2m1 everywhere, blocks of 32 along the last axis, nearest-even; float32 master "
       "weights and momentum",
       microscaling_recipe(f("mxfp4", ne), f("mxfp4", ne), f("mxfp4", ne), f("mxfp4", ne))},
      {"nvfp4",
       "NVIDIA NVFP4: e2m1 with an e4m3 scale per 16 elements along the last axis and a float32 tensor scale, "
       "everywhere, nearest-even; float32 master weights and momentum",
       microscaling_recipe(f("nvfp4", ne), f("nvfp4", ne), f("nvfp4", ne), f("nvfp4", ne))},
      {"fp16acc",
       "float32 tensors, but every linear and conv layer's dot products accumulate in fp16 (IEEE, nearest "
       "even) with exact products, forward and backward (docs/numerics.md, low-precision multiply-accumulate)",
       mac_recipe("acc=fp16,acc_rounding=nearest_even")},
  };
}

}  // namespace

int role_index(Role role) {
  const int i = static_cast<int>(role);
  QTORCH_CHECK(i >= 0 && i < kNumRoles, "recipe: expected a role (0 to {}), got the value {}", kNumRoles - 1, i);
  return i;
}

const char* role_name(Role role) { return kRoleNames[role_index(role)]; }

Role parse_role(const std::string& name) {
  for (Role r : kRoles)
    if (name == role_name(r)) return r;
  QTORCH_FAIL("recipe: expected a role (weight, activation, error, grad, momentum or acc), got '{}'", name);
}

std::string to_string(const RoleFormat& format) {
  if (!format.number) return "fp32";
  return number_text(format.number) + " " + rounding_name(format.rounding);
}

RoleFormat parse_role_format(const std::string& number, const std::string& rounding, const std::string& what) {
  RoleFormat f;
  try {
    f.number = parse_number(number);
  } catch (const Error& e) {
    throw Error(what + ": " + reason(e, "parse_number: "));
  }
  try {
    f.rounding = parse_rounding(rounding);
  } catch (const Error& e) {
    throw Error(what + ": " + reason(e, "parse_rounding: "));
  }
  return f;
}

std::string to_string(const LossScaling& s) {
  switch (s.kind) {
    case LossScaling::Kind::None: return "none";
    case LossScaling::Kind::Static: return "static:" + exact(s.scale);
    case LossScaling::Kind::Dynamic: return "dynamic:" + exact(s.scale) + ":" + std::to_string(s.growth_interval);
    case LossScaling::Kind::Multiplier: return "multiplier:" + exact(s.scale);
  }
  return "?";
}

LossScaling parse_loss_scaling(const std::string& text, const std::string& what) {
  LossScaling s;
  if (text.empty() || text == "none") return s;
  const std::vector<std::string> p = text::split(text, ':');
  double scale = 65536.0;
  bool ok = false;
  if (p[0] == "dynamic" && p.size() <= 3) {
    s.kind = LossScaling::Kind::Dynamic;
    ok = p.size() < 2 || (positive_number(p[1], scale) && dynamic_scale_in_range(scale));
    if (ok && p.size() == 3) {
      double interval = 0;
      ok = positive_number(p[2], interval) && interval == std::floor(interval) && interval <= 1e12;
      if (ok) s.growth_interval = static_cast<int64_t>(interval);  // in range only once checked
    }
  } else if ((p[0] == "static" || p[0] == "multiplier") && p.size() == 2) {
    s.kind = p[0] == "static" ? LossScaling::Kind::Static : LossScaling::Kind::Multiplier;
    ok = positive_number(p[1], scale) && float32_normal_scale(scale);
  }
  if (!ok)
    QTORCH_FAIL("{}: expected none, static:S, dynamic, dynamic:S, dynamic:S:INTERVAL or multiplier:K (S, K "
                "numbers in float32's normal range [{}, {}], a dynamic S in the dynamic scaler's range {}, "
                "INTERVAL a whole number of steps >= 1), got '{}'",
                what, exact(std::numeric_limits<float>::min()), exact(std::numeric_limits<float>::max()),
                dynamic_scale_range(), text);
  s.scale = scale;
  return s;
}

std::string layer_kinds_text(const std::vector<nn::LayerKind>& kinds) {
  std::string text;
  for (nn::LayerKind kind : nn::kLayerKinds)
    if (std::find(kinds.begin(), kinds.end(), kind) != kinds.end())
      text += (text.empty() ? "" : ",") + std::string(nn::layer_kind_name(kind));
  return text.empty() ? "none" : text;
}

std::vector<nn::LayerKind> parse_layer_kinds(const std::string& text, const std::string& what) {
  const std::string expected = "a comma-separated list of linear, conv, normalization, activation, pooling, or all";
  std::vector<nn::LayerKind> kinds;
  if (text == "none") return kinds;
  if (text == "all") {
    return {nn::kLayerKinds.begin(), nn::kLayerKinds.end()};
  }
  for (const std::string& name : text::split(text, ',')) {
    if (name.empty()) QTORCH_FAIL("{}: expected {}, got '{}' (an empty kind)", what, expected, text);
    nn::LayerKind kind;
    try {
      kind = nn::parse_layer_kind(name);
    } catch (const Error&) {
      QTORCH_FAIL("{}: expected {}, got '{}' in '{}'", what, expected, name, text);
    }
    if (std::find(kinds.begin(), kinds.end(), kind) != kinds.end())
      QTORCH_FAIL("{}: '{}' is named twice in '{}'", what, name, text);
    kinds.push_back(kind);
  }
  return kinds;
}

bool Recipe::quantizes_model() const {
  return (*this)[Role::Activation].quantized() || (*this)[Role::Error].quantized();
}

bool Recipe::quantizes_optimizer() const {
  for (Role r : {Role::Weight, Role::Grad, Role::Momentum, Role::Acc})
    if ((*this)[r].quantized()) return true;
  return master_weights || loss_scaling.kind == LossScaling::Kind::Multiplier;
}

bool Recipe::operator==(const Recipe& o) const {
  return roles == o.roles && layer_kinds_text(quantize_after) == layer_kinds_text(o.quantize_after) &&
         loss_scaling == o.loss_scaling && clamping_grad_zero == o.clamping_grad_zero &&
         quantize_initial_weights == o.quantize_initial_weights && master_weights == o.master_weights &&
         mac_forward == o.mac_forward && mac_backward == o.mac_backward && comm == o.comm &&
         comm_error_feedback == o.comm_error_feedback;
}

void Recipe::validate() const {
  for (Role r : kRoles)
    if ((*this)[r].number) qtorch::validate(*(*this)[r].number);
  if (mac_forward) mac_forward->validate();
  if (mac_backward) mac_backward->validate();
  if (clamping_grad_zero) {
    quant::QuantizerOptions o;
    o.forward_number = (*this)[Role::Activation].number;
    o.clamping_grad_zero = true;
    try {
      quant::quantizer(o);
    } catch (const Error& e) {
      throw Error("recipe: clamping_grad_zero zeroes the error where the activation quantizer clamped, so it " +
                  reason(e, "quantizer: clamping_grad_zero ") + " for the activation role");
    }
  }
  const LossScaling& s = loss_scaling;
  QTORCH_CHECK(s.kind == LossScaling::Kind::None || float32_normal_scale(s.scale),
               "recipe: expected a loss scale in float32's normal range [{}, {}], got {}",
               exact(std::numeric_limits<float>::min()), exact(std::numeric_limits<float>::max()), s.scale);
  QTORCH_CHECK(s.kind != LossScaling::Kind::Dynamic || dynamic_scale_in_range(s.scale),
               "recipe: expected a dynamic loss scale's initial value in the dynamic scaler's range {}, got {}",
               dynamic_scale_range(), exact(s.scale));
  QTORCH_CHECK(s.kind != LossScaling::Kind::Dynamic || s.growth_interval >= 1,
               "recipe: expected a dynamic loss scale growth interval >= 1 step, got {}", s.growth_interval);
  QTORCH_CHECK(s.kind != LossScaling::Kind::Multiplier || (*this)[Role::Grad].quantized(),
               "recipe: loss scaling {} divides the gradients by the multiplier inside the grad quantizer, "
               "so it expects a grad format, got grad=fp32 (use static:{} instead)",
               to_string(s), exact(s.scale));
  if (comm.number) dist::check_packable(*comm.number, "recipe comm");
  QTORCH_CHECK(!comm_error_feedback || comm.quantized(),
               "recipe: comm_error_feedback keeps the residual of the gradient's communication format, so it "
               "expects a comm format, got comm=fp32");
  QTORCH_CHECK(!master_weights || !(*this)[Role::Acc].quantized(),
               "recipe: master_weights keeps a float32 copy as the accumulator, so it expects acc=fp32, got acc={}",
               to_string((*this)[Role::Acc]));
}

std::string to_string(const Recipe& recipe) {
  std::string out;
  for (Role r : kRoles) out += std::string(role_name(r)) + "=" + to_string(recipe[r]) + "; ";
  out += "after=" + layer_kinds_text(recipe.quantize_after) + "; loss_scale=" + to_string(recipe.loss_scaling);
  if (recipe.mac_forward) out += "; mac_forward=" + quant::mac_text(*recipe.mac_forward);
  if (recipe.mac_backward) out += "; mac_backward=" + quant::mac_text(*recipe.mac_backward);
  if (recipe.comm.quantized()) out += "; comm=" + to_string(recipe.comm);
  if (recipe.clamping_grad_zero) out += "; clamping_grad_zero";
  if (recipe.quantize_initial_weights) out += "; quantize_initial_weights";
  if (recipe.master_weights) out += "; master_weights";
  if (recipe.comm_error_feedback) out += "; comm_error_feedback";
  return out;
}

Recipe parse_recipe(const std::string& text) {
  Recipe recipe;
  std::vector<std::string> seen;
  for (const std::string& raw : text::split(text, ';')) {
    const std::string item = trim(raw);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string key = trim(item.substr(0, eq));
    const std::string value = eq == std::string::npos ? "" : trim(item.substr(eq + 1));
    QTORCH_CHECK(std::find(seen.begin(), seen.end(), key) == seen.end(),
                 "parse_recipe: '{}' is given twice in '{}'", key, text);
    seen.push_back(key);
    const bool is_flag = key == "clamping_grad_zero" || key == "quantize_initial_weights" || key == "master_weights" ||
                         key == "comm_error_feedback";
    QTORCH_CHECK(is_flag == (eq == std::string::npos),
                 "parse_recipe: expected key=value for a role, after, loss_scale, mac_forward/mac_backward or comm, or a "
                 "bare flag (clamping_grad_zero, quantize_initial_weights, master_weights, comm_error_feedback), got '{}'",
                 item);
    if (key == "after") {
      recipe.quantize_after = parse_layer_kinds(value, "parse_recipe: after");
    } else if (key == "loss_scale") {
      recipe.loss_scaling = parse_loss_scaling(value, "parse_recipe: loss_scale");
    } else if (key == "mac_forward" || key == "mac_backward") {
      std::optional<quant::MacOptions>& mac = key == "mac_forward" ? recipe.mac_forward : recipe.mac_backward;
      try {
        mac = quant::parse_optional_mac(value);
      } catch (const Error& e) {
        throw Error("parse_recipe: " + key + ": " + reason(e, "parse_mac: "));
      }
    } else if (key == "clamping_grad_zero") {
      recipe.clamping_grad_zero = true;
    } else if (key == "quantize_initial_weights") {
      recipe.quantize_initial_weights = true;
    } else if (key == "master_weights") {
      recipe.master_weights = true;
    } else if (key == "comm_error_feedback") {
      recipe.comm_error_feedback = true;
    } else {
      const auto role = std::find(std::begin(kRoleNames), std::end(kRoleNames), key);
      QTORCH_CHECK(role != std::end(kRoleNames) || key == "comm",
                   "parse_recipe: expected a key weight, activation, error, grad, momentum, acc, after, "
                   "loss_scale, mac_forward, mac_backward, comm or a flag, got '{}'",
                   key);
      // "FORMAT ROUNDING", or "fp32" alone.
      const size_t space = value.find_last_of(' ');
      const std::string number = space == std::string::npos ? value : trim(value.substr(0, space));
      const std::string rounding = space == std::string::npos ? "nearest" : value.substr(space + 1);
      QTORCH_CHECK(space != std::string::npos || number == "fp32" || number == "none",
                   "parse_recipe: {}: expected 'FORMAT ROUNDING' (e.g. 'block:8:0 stochastic') or fp32, got '{}'",
                   key, value);
      RoleFormat format = parse_role_format(number, rounding, "parse_recipe: " + key);
      if (key == "comm") recipe.comm = format;
      else recipe.roles[role - std::begin(kRoleNames)] = format;
    }
  }
  recipe.validate();
  return recipe;
}

const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = make_presets();
  return table;
}

std::string preset_names() {
  std::string out;
  for (const Preset& p : presets()) out += (out.empty() ? "" : ", ") + p.name;
  return out;
}

const Recipe& preset(const std::string& name) {
  for (const Preset& p : presets())
    if (p.name == name) return p.recipe;
  QTORCH_FAIL("preset: unknown preset '{}'; expected one of {}", name, preset_names());
}

}  // namespace qtorch::train
