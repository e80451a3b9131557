// qtrain's configuration: every command-line option as one plain struct, with the number
// format (text syntax of quant/) and rounding chosen for each of the six roles.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace qtrain {

/// The values a training run quantizes, each with its own format and rounding.
enum class Role { Weight, Activation, Error, Grad, Momentum, Acc };
inline constexpr int kNumRoles = 6;
inline constexpr std::array<Role, kNumRoles> kRoles = {Role::Weight, Role::Activation, Role::Error,
                                                       Role::Grad,   Role::Momentum,   Role::Acc};

/// --quantize-after's default: the layer kinds followed by an activation/error quantizer.
inline constexpr const char* kDefaultQuantizeAfter = "linear,conv,normalization";

/// "weight", "activation", "error", "grad", "momentum", "acc" (as in --<role>-format).
const char* role_name(Role role);

/// A number format in quant's text syntax ("fp32", "block:8:-1", ...) and a rounding mode
/// in quant's names ("stochastic", "nearest", "nearest_even", ...).
struct FormatChoice {
  std::string format = "fp32";
  std::string rounding = "nearest";

  bool is_fp32() const { return format == "fp32"; }
};

struct Config {
  // ---- model and data ----
  std::string model = "lenet";  ///< mlp | lenet | cnn
  std::string data_dir{};       ///< defaults to data::kFashionMnistDir
  bool normalize = false;
  int64_t limit_train = -1;  ///< use only the first N training images (all when < 0)
  int64_t limit_test = -1;

  // ---- training ----
  int64_t epochs = 2;
  int64_t batch_size = 128;
  double lr = 0.05;
  double momentum = 0.9;
  double weight_decay = 0.0;
  std::string optimizer = "sgd";     ///< sgd | adam | adamw
  std::string schedule = "constant"; ///< constant | cosine | step:EVERY:GAMMA
  uint64_t seed = 0;
  int threads = 0;  ///< 0: the library's default
  std::string device = "cpu";

  // ---- number formats ----
  /// parse_command_line fills `formats` from the preset, then applies explicit
  /// --<role>-format/--<role>-rounding flags; a Config made in code starts all fp32.
  std::string preset = "block8";
  std::array<FormatChoice, kNumRoles> formats{};
  std::string loss_scale{};  ///< "" (none), "static:S" or "dynamic"
  /// Layer kinds followed by an activation/error quantizer (placement.h).
  std::string quantize_after = kDefaultQuantizeAfter;
  int64_t swa_start = -1;  ///< first epoch (from 1) averaged into the SWA model; < 0: off

  // ---- output ----
  std::string metrics_path{}, plot_path{}, checkpoint_path{}, resume_path{};
  std::vector<std::string> compare{};  ///< metrics files to plot together (no training)
  bool progress = true;              ///< progress bar / periodic lines on stderr

  const FormatChoice& format(Role role) const { return formats[static_cast<int>(role)]; }
  FormatChoice& format(Role role) { return formats[static_cast<int>(role)]; }
  /// True when any role is quantized.
  bool low_precision() const;
};

}  // namespace qtrain
