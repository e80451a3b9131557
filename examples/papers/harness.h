// The shared harness of the paper reproductions: one training run ("arm") of a small model
// on Fashion-MNIST with a train::Recipe and hyperparameters, through train::Trainer, and
// the diagnostics every experiment logs.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "qtorch/data/mnist.h"
#include "examples/papers/log2_histogram.h"
#include "qtorch/train/trainer.h"

namespace qrepro {

using qtorch::train::LossScaling;
using qtorch::train::Role;
using qtorch::train::Schedule;
using Counts = qtorch::train::QuantCounts;

/// softmax: 784-10; mlp: 784-256-10 (or ArmConfig::mlp_widths); lenet: LeNet-5 (conv 6 and 16,
/// linear 120-84-10).
enum class ModelKind { Softmax, Mlp, LeNet };
const char* model_name(ModelKind kind);

/// Where a recipe's multiply-accumulate options (mac_forward, mac_backward) apply: every
/// Linear and Conv2d layer (the library's apply_recipe), or only the model's first or last
/// Linear layer (swapped for an nn::QLinear by the harness; every other product stays float32).
enum class MacScope { AllLayers, FirstLinear, LastLinear };

/// Fashion-MNIST in memory (pixels in [0, 1], not normalised).
struct Data {
  qtorch::data::Dataset train, test;
};
/// Loads the data set from `dir` (default: the Debian package's folder) once per process.
const Data& fashion_mnist(const std::string& dir = "");

/// Unit: the pixels as stored, in [0, 1]. Symmetric: 2x - 1, in [-1, 1] (torchvision's
/// Normalize(0.5, 0.5)). Standardized: (x - 0.2860) / 0.3530, the training set's mean and
/// deviation.
enum class InputScale { Unit, Symmetric, Standardized };

/// The harness's hyperparameters unless an arm says otherwise: SGD lr 0.01 without
/// momentum, batch 128, 3 epochs, evaluation in batches of 1000 and after every step a
/// count of the weights it changed.
qtorch::train::TrainerOptions default_training();

/// The recipe of an arm starts all float32, with the initial weights quantized: the
/// accumulator starts as acc(init), the stored weights as weight(acc(init)).
qtorch::train::Recipe default_recipe();

/// Averaging of the stored weights in float32 every `every` steps from the start of epoch
/// `from` (counted from 1), as SWALP does, with the average evaluated after each epoch.
qtorch::train::Averaging averaging(int64_t from, int64_t every);

/// One training run: a model, a recipe and hyperparameters.
struct ArmConfig {
  std::string name;
  ModelKind model = ModelKind::Mlp;
  /// How the pixels (stored in [0, 1]) enter the model.
  InputScale input = InputScale::Unit;
  qtorch::train::Recipe recipe = default_recipe();
  qtorch::train::TrainerOptions training = default_training();
  /// Train on the first N images only (quick runs); all when < 0.
  int64_t limit_train = -1;
  /// Evaluate on the first N test images only; all 10 000 when < 0.
  int64_t limit_test = -1;
  /// ModelKind::Mlp only: the layer widths, input first; empty: 784-256-10. The input width
  /// must be (28 / input_pool)^2.
  std::vector<int64_t> mlp_widths;
  /// Average-pool the 28x28 image over input_pool x input_pool blocks before the model
  /// (1: none; 2: 14x14 = 196 inputs; 4: 7x7 = 49 inputs).
  int64_t input_pool = 1;
  /// Where the recipe's MAC options apply.
  MacScope mac_scope = MacScope::AllLayers;
  /// Called once after training with the trained model and the test images (as evaluated);
  /// what it returns is kept in ArmResult::probes.
  std::function<std::map<std::string, double>(qtorch::nn::Module& model, const qtorch::data::Dataset& test)> probe;
  /// Record the histogram of log2|error| entering the error quantizers.
  bool error_histogram = false;
  /// Measure the loss over the whole training set at the end (and of the average).
  bool eval_train_loss = false;

  /// "W=fixed:16:8 nearest G=fp32 ...", only the quantized roles and the recipe knobs.
  std::string describe() const;
  /// "mlp 784-256-10", "mlp 49-256-10 (7x7 average-pooled input)", "lenet-5".
  std::string model_text() const;
};

/// The arm's model as run_arm trains it, before the recipe's quantizers: with MacScope::
/// FirstLinear (LastLinear) its first (last) Linear layer is already an nn::QLinear with the
/// recipe's MAC options.
qtorch::nn::ModulePtr build_model(const ArmConfig& config);
/// The recipe run_arm hands to the trainer: the arm's, without its MAC options when they
/// apply to one Linear layer only (build_model has placed them).
qtorch::train::Recipe trainer_recipe(const ArmConfig& config);

/// Sets the format of each of `roles`.
void set_roles(qtorch::train::Recipe& recipe, std::initializer_list<Role> roles, const qtorch::train::RoleFormat& format);
/// A quantized role, and float32 (not quantized).
inline qtorch::train::RoleFormat role(qtorch::Number number, qtorch::Rounding rounding) { return {number, rounding}; }
inline qtorch::train::RoleFormat fp32() { return {}; }

struct EpochLog {
  int64_t epoch = 0;  ///< 0 is the (quantized) initial model
  double train_loss = 0;  ///< running mean over the epoch's batches
  double test_accuracy = 0, test_loss = 0;  ///< accuracy in percent
  double update_fraction = 0;  ///< mean over the epoch's steps
  double error_flush_fraction = 0, error_saturation_fraction = 0;  ///< this epoch's E counts
  double loss_scale = 1;
  int64_t skipped_steps = 0;  ///< total so far
  std::optional<double> avg_test_accuracy;
  double seconds = 0;
};

struct ArmResult {
  ArmConfig config;
  std::vector<EpochLog> epochs;  ///< epoch 0 first
  double test_accuracy = 0, test_loss = 0;  ///< final model, accuracy in percent
  std::optional<double> train_loss;         ///< full pass over the training set
  std::optional<double> avg_test_accuracy, avg_test_loss, avg_train_loss;
  int64_t averaged_snapshots = 0;
  /// Largest |value| among the final stored weights (and biases).
  double max_abs_weight = 0;
  double first_step_update_fraction = 0;
  /// Steps after the first in which at least one stored weight changed.
  int64_t steps_changing_after_first = 0;
  /// Stored weights bit-identical to the quantized initial weights at the end.
  bool weights_equal_init = false;
  Counts weight_counts, grad_counts, momentum_counts, activation_counts, error_counts;
  /// The loss scale after every step, and the steps skipped for overflow.
  std::vector<double> scale_trace;
  int64_t skipped_steps = 0;
  Log2Histogram error_histogram;
  int64_t steps = 0;
  double seconds = 0;
  /// ArmConfig::probe's measurements.
  std::map<std::string, double> probes;

  const EpochLog& last() const { return epochs.back(); }
};

/// Runs one arm with the library's trainer. Paired arms share the seed: the same initial
/// weights, data order and (before the first quantizer draws) random stream.
ArmResult run_arm(const ArmConfig& config, const Data& data);

nlohmann::json to_json(const ArmResult& result);

}  // namespace qrepro
