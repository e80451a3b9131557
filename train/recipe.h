// train::Recipe: which number format and rounding each role of training uses (weights,
// activations, errors, gradients, momentum, accumulator), after which layer kinds the
// activation/error quantizers sit, and how the loss is scaled. A plain value: presets,
// a stable text form (parse_recipe reads what to_string writes), equality and validation.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "qtorch/nn/lower.h"
#include "qtorch/quant/mac.h"
#include "qtorch/quant/number.h"
#include "qtorch/quant/rounding.h"

namespace qtorch::train {

/// The values a training run quantizes, each with its own format and rounding.
enum class Role { Weight, Activation, Error, Grad, Momentum, Acc };
inline constexpr int kNumRoles = 6;
inline constexpr std::array<Role, kNumRoles> kRoles = {Role::Weight, Role::Activation, Role::Error,
                                                       Role::Grad,   Role::Momentum,   Role::Acc};
/// The role's position in kRoles; throws qtorch::Error for a value outside the six (a cast).
int role_index(Role role);
/// "weight", "activation", "error", "grad", "momentum", "acc".
const char* role_name(Role role);
/// Parses a role name; throws qtorch::Error listing the six.
Role parse_role(const std::string& name);

/// One role's number format (empty: float32, not quantized) and rounding.
struct RoleFormat {
  std::optional<Number> number;
  Rounding rounding = Rounding::Nearest;

  bool quantized() const { return number.has_value(); }
  /// Equal formats; the rounding counts only for a quantized role.
  bool operator==(const RoleFormat& o) const {
    return number == o.number && (!number || rounding == o.rounding);
  }
};
/// "fp32", or the format and rounding: "block:8:0 stochastic".
std::string to_string(const RoleFormat& format);
/// From quant's text forms ("block:8:0", "stochastic"); throws qtorch::Error naming
/// `what` ("recipe weight", "--weight-format", ...) for an unknown format or rounding.
RoleFormat parse_role_format(const std::string& number, const std::string& rounding,
                             const std::string& what = "recipe");

/// How the loss is scaled before backward.
struct LossScaling {
  enum class Kind {
    None,
    /// loss * scale, gradients unscaled before the step; steps with inf/NaN gradients or
    /// saturated errors are skipped (optim::LossScaler, static).
    Static,
    /// As Static, and the scale halves on overflow and doubles after growth_interval
    /// clean steps (optim::LossScaler, dynamic).
    Dynamic,
    /// loss * scale, and gradients multiplied in float32 by float32(1/scale) inside the
    /// gradient quantizer, just before it rounds (OptimLP's grad_scaling, as Wang et al.
    /// 2018, and QPyTorch: two roundings, one when scale is a power of two); no step is
    /// ever skipped. Needs a grad format.
    Multiplier,
  };
  Kind kind = Kind::None;
  double scale = 1.0;             ///< the factor (Dynamic: the initial one)
  int64_t growth_interval = 2000;  ///< Dynamic only

  bool operator==(const LossScaling&) const = default;
};
/// "none", "static:S", "dynamic:S:INTERVAL", "multiplier:K".
std::string to_string(const LossScaling& scaling);
/// Reads "none" (or ""), "static:S", "dynamic" (2^16, every 2000 steps), "dynamic:S",
/// "dynamic:S:INTERVAL" and "multiplier:K"; throws qtorch::Error naming `what`.
LossScaling parse_loss_scaling(const std::string& text, const std::string& what = "recipe loss_scale");

/// Layer kinds as text: "linear,conv,normalization" in a fixed order ("none" when empty),
/// and back; parse also takes "all" (every kind). Throws qtorch::Error naming `what` for an
/// unknown, repeated or empty kind.
std::string layer_kinds_text(const std::vector<nn::LayerKind>& kinds);
std::vector<nn::LayerKind> parse_layer_kinds(const std::string& text, const std::string& what = "recipe after");

struct Recipe {
  /// Indexed by Role; all float32 by default.
  std::array<RoleFormat, kNumRoles> roles{};
  /// Layer kinds followed by an activation (forward) / error (backward) quantizer. After
  /// linear, conv and batch-norm layers by default: after ReLU or pooling a quantizer
  /// changes nothing forward (they keep values on the grid) and only rounds the error once more.
  std::vector<nn::LayerKind> quantize_after = {nn::LayerKind::Linear, nn::LayerKind::Conv,
                                               nn::LayerKind::Normalization};
  LossScaling loss_scaling{};
  /// Zero the error where the activation quantizer clamped (needs a clamping activation format).
  bool clamping_grad_zero = false;
  /// Quantize the initial weights before the first step (the accumulator to acc, then the
  /// stored weights to weight), so they are representable from the start.
  bool quantize_initial_weights = false;
  /// With acc float32: keep a float32 master copy that takes every update, of which the
  /// stored weights are the weight-quantized view (mixed precision). Without it the
  /// stored weights are updated in place.
  bool master_weights = false;
  /// Low-precision multiply-accumulate inside every linear and conv layer's products
  /// (docs/numerics.md): forward products, and the backward ones (input and weight
  /// gradients). Empty: float32 (BLAS). Either makes the layers QLinear / QConv2d.
  std::optional<quant::MacOptions> mac_forward;
  std::optional<quant::MacOptions> mac_backward;
  /// Data-parallel training (dist/): the format and rounding each rank's gradient is
  /// quantized to before it is sent to the other ranks (fp32: sent as float32), and
  /// whether each rank keeps the quantization residual and adds it to its next gradient
  /// (error feedback). No effect in a single process.
  RoleFormat comm{};
  bool comm_error_feedback = false;

  /// Throws qtorch::Error for a value outside the six roles (an out-of-range cast).
  RoleFormat& operator[](Role r) { return roles[role_index(r)]; }
  const RoleFormat& operator[](Role r) const { return roles[role_index(r)]; }
  /// Activations or errors are quantized: quantizers go into the model.
  bool quantizes_model() const;
  /// Weights, gradients, momentum or accumulator are quantized, a master copy is kept or
  /// gradients are unscaled by a multiplier: the optimizer is wrapped in OptimLP.
  bool quantizes_optimizer() const;
  /// Throws qtorch::Error for an invalid combination: clamping_grad_zero without a clamping
  /// activation format (block floating point, a non-saturating float, none), a multiplier
  /// without a grad format, master_weights with an acc format, a non-positive or non-finite scale,
  /// a comm format that cannot be sent as codes (NVFP4), comm_error_feedback without a comm format.
  void validate() const;

  /// Equal roles, options and set of layer kinds (in any order).
  bool operator==(const Recipe& o) const;
};

/// The stable text form, one "key=value" per role and option, separated by "; ":
/// "weight=block:8:0 stochastic; activation=...; ...; acc=fp32; after=linear,conv,normalization;
/// loss_scale=none", then "mac_forward=acc=fp16,chunk=64" and "mac_backward=..." when set,
/// "comm=FORMAT ROUNDING" and "comm_error_feedback" when set, then "clamping_grad_zero",
/// "quantize_initial_weights", "master_weights" when set.
/// parse_recipe(to_string(r)) == r.
std::string to_string(const Recipe& recipe);
/// Reads the text form; keys may come in any order and missing ones keep their defaults,
/// so "weight=fixed:8:6 stochastic" alone is a recipe. Throws qtorch::Error naming the key.
/// The result is validated.
Recipe parse_recipe(const std::string& text);

/// A named recipe with a one-line description.
struct Preset {
  std::string name;
  std::string summary;
  Recipe recipe;
};
/// Every preset: fp32, block8, fixed16, bf16, fp8, hfp8, mxfp8, mxfp6, mxfp4, nvfp4, fp16acc.
/// They were made for SGD. With Adam or AdamW, a preset's momentum format (block8, fixed16,
/// bf16, fp8, hfp8) also rounds Adam's second moment, as QPyTorch's OptimLP does: squared
/// gradients of about 1e-8 flush to zero in most of these formats and the steps
/// m / (sqrt(v) + eps) grow by many orders of magnitude (block8 with Adam on the MLP:
/// training loss 2^43). Give Adam a momentum format that holds squared gradients, or none.
const std::vector<Preset>& presets();
/// The recipe of preset `name`; throws qtorch::Error listing the names.
const Recipe& preset(const std::string& name);
/// "fp32, block8, ..." for help texts and errors.
std::string preset_names();

}  // namespace qtorch::train
