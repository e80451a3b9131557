// qtrain's configuration: every command-line option as one plain struct. The number
// formats, quantizer placement and loss scaling form the run's train::Recipe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qtorch/train/recipe.h"

namespace qtrain {

using qtorch::train::Role;

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
  /// Evaluations draw stochastic rounding from a stream of their own (seed: seed xor
  /// kEvaluationSeedMix) and leave training's alone (train::TrainerOptions::evaluation_seed).
  bool isolated_evaluation = false;
  static constexpr uint64_t kEvaluationSeedMix = 0x9E3779B97F4A7C15ull;
  int threads = 0;  ///< 0: the library's default
  std::string device = "cpu";
  /// Under mpirun: train data-parallel over every process (false: each trains alone, as
  /// the runs of a sweep do).
  bool data_parallel = true;

  // ---- number formats ----
  /// parse_command_line starts from the preset's recipe, then applies explicit
  /// --<role>-format/--<role>-rounding, --loss-scale and --quantize-after; a Config made in
  /// code starts all fp32.
  std::string preset = "block8";
  qtorch::train::Recipe recipe{};
  int64_t swa_start = -1;  ///< first epoch (from 1) averaged into the SWA model; < 0: off
  bool stop_on_nan = true;  ///< end with exit status 3 once training diverges

  // ---- output ----
  std::string metrics_path{}, plot_path{}, checkpoint_path{}, resume_path{};
  std::vector<std::string> compare{};  ///< metrics files to plot together (no training)
  bool progress = true;              ///< progress bar / periodic lines on stderr
  /// A file of runs, one line of qtrain options each, spread over the MPI processes;
  /// --metrics then names the JSON of all the runs.
  std::string sweep_path{};
};

}  // namespace qtrain
