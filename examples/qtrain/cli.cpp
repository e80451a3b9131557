// CLI11 set-up for qtrain and the option checks that need nothing but the values.
#include "examples/qtrain/cli.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "data/mnist.h"
#include "examples/qtrain/presets.h"
#include "examples/qtrain/text_specs.h"

namespace qtrain {
namespace {

void fail(const std::string& message) { throw std::invalid_argument(message); }

bool one_of(const std::string& v, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (v == n) return true;
  return false;
}

// 0.05 rather than std::to_string's 0.050000.
std::string num(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

std::string extension(const std::string& path) {
  return std::filesystem::path(path).extension().string();
}

void check_output_path(const char* option, const std::string& path) {
  if (path.empty()) return;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec))
    fail(std::string(option) + ": folder '" + parent.string() + "' does not exist");
}

std::string epilog() {
  std::string out = "Presets (--preset; explicit --<role>-format/--<role>-rounding win):\n";
  for (const Preset& p : presets()) out += "  " + p.name + ": " + p.summary + "\n";
  out +=
      "Formats: fp32 (no quantization), fixed:WL:FL, float:EXP:MAN, block:WL:DIM (DIM -1: one\n"
      "block per tensor), fp16, bf16, tf32, e4m3, e5m2, hfp8 (quant's text syntax).\n"
      "Roundings: stochastic, nearest, nearest_even, toward_zero, up, down.\n"
      "Without arguments: LeNet on Fashion-MNIST with the block8 preset for 2 epochs.";
  return out;
}

}  // namespace

std::optional<int> parse_command_line(int argc, char** argv, Config& cfg) {
  CLI::App app{"qtrain: train an MLP or a CNN on Fashion-MNIST in simulated low precision",
               "qtrain"};
  app.footer(epilog());
  app.option_defaults()->always_capture_default();
  cfg.data_dir = qtorch::data::kFashionMnistDir;

  app.add_option("--model", cfg.model, "mlp (784-256-256-10), lenet (LeNet-5) or cnn (VGG-style, batch norm)");
  app.add_option("--data-dir", cfg.data_dir, "folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]");
  app.add_flag("--normalize", cfg.normalize, "normalise pixels to mean 0, std 1 (Fashion-MNIST statistics)");
  app.add_option("--limit-train", cfg.limit_train, "use only the first N training images (-1: all)");
  app.add_option("--limit-test", cfg.limit_test, "use only the first N test images (-1: all)");
  app.add_option("--epochs", cfg.epochs, "number of epochs (0: only evaluate)");
  app.add_option("--batch-size", cfg.batch_size, "mini-batch size");
  app.add_option("--lr", cfg.lr, "learning rate");
  app.add_option("--momentum", cfg.momentum, "SGD momentum");
  app.add_option("--weight-decay", cfg.weight_decay, "L2 weight decay (decoupled for adamw)");
  app.add_option("--optimizer", cfg.optimizer, "sgd, adam or adamw");
  app.add_option("--schedule", cfg.schedule, "learning-rate schedule: constant, cosine or step:EVERY:GAMMA (epochs)");
  app.add_option("--seed", cfg.seed, "seed of initialisation, shuffling and stochastic rounding");
  app.add_option("--threads", cfg.threads, "CPU threads (0: the library default)");
  app.add_option("--device", cfg.device, "cpu or cuda[:N]");

  app.add_option("--preset", cfg.preset, "number-format recipe: " + preset_names());
  std::array<std::string, kNumRoles> format_flags, rounding_flags;
  std::array<CLI::Option*, kNumRoles> format_opts{}, rounding_opts{};
  for (Role r : kRoles) {
    int i = static_cast<int>(r);
    std::string name = role_name(r);
    format_opts[i] = app.add_option("--" + name + "-format", format_flags[i],
                                    "number format of the " + name + " role (overrides the preset)");
    format_opts[i]->default_str("");
    rounding_opts[i] = app.add_option("--" + name + "-rounding", rounding_flags[i],
                                      "rounding of the " + name + " role (overrides the preset)");
    rounding_opts[i]->default_str("");
  }
  auto* loss_scale_opt =
      app.add_option("--loss-scale", cfg.loss_scale, "loss scaling: static:S or dynamic (default: the preset's)");
  app.add_option("--swa-start", cfg.swa_start, "average weights from this epoch on (SWA); -1: off");

  app.add_option("--metrics", cfg.metrics_path, "write configuration and per-epoch metrics to FILE.json");
  app.add_option("--plot", cfg.plot_path, "draw loss and accuracy per epoch to FILE.png or FILE.svg (gnuplot)");
  app.add_option("--compare", cfg.compare, "plot several metrics files together (no training); with --plot")
      ->expected(1, -1);
  app.add_option("--checkpoint", cfg.checkpoint_path, "save model and optimizer state to FILE after every epoch");
  app.add_option("--resume", cfg.resume_path, "continue training from a --checkpoint FILE");
  bool no_progress = false;
  app.add_flag("--no-progress", no_progress, "no progress bar or periodic lines");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "qtrain: error: %s (see qtrain --help)\n", e.what());
    return 2;
  }
  cfg.progress = !no_progress;

  try {
    const Preset& preset = find_preset(cfg.preset);
    cfg.formats = preset.formats;
    if (loss_scale_opt->count() == 0) cfg.loss_scale = preset.loss_scale;
    for (Role r : kRoles) {
      int i = static_cast<int>(r);
      if (format_opts[i]->count()) cfg.formats[i].format = format_flags[i];
      if (rounding_opts[i]->count()) cfg.formats[i].rounding = rounding_flags[i];
    }
    check_config(cfg);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "qtrain: error: %s\n", e.what());
    return 2;
  }
  return std::nullopt;
}

void check_config(const Config& c) {
  if (!c.compare.empty()) {
    for (const std::string& path : c.compare)
      if (!std::filesystem::is_regular_file(path)) fail("--compare: no such file '" + path + "'");
    if (!c.plot_path.empty() && !one_of(extension(c.plot_path), {".png", ".svg"}))
      fail("--plot: expected a file name ending in .png or .svg, got '" + c.plot_path + "'");
    check_output_path("--plot", c.plot_path);
    return;
  }
  if (!one_of(c.model, {"mlp", "lenet", "cnn"}))
    fail("--model: expected mlp, lenet or cnn, got '" + c.model + "'");
  if (c.epochs < 0) fail("--epochs: expected a number >= 0, got " + std::to_string(c.epochs));
  if (c.batch_size < 1) fail("--batch-size: expected a number >= 1, got " + std::to_string(c.batch_size));
  if (!(c.lr > 0)) fail("--lr: expected a number > 0, got " + num(c.lr));
  if (!(c.momentum >= 0 && c.momentum < 1))
    fail("--momentum: expected a number in [0, 1), got " + num(c.momentum));
  if (!(c.weight_decay >= 0))
    fail("--weight-decay: expected a number >= 0, got " + num(c.weight_decay));
  if (!one_of(c.optimizer, {"sgd", "adam", "adamw"}))
    fail("--optimizer: expected sgd, adam or adamw, got '" + c.optimizer + "'");
  parse_schedule(c.schedule);  // throws naming --schedule
  if (c.threads < 0) fail("--threads: expected a number >= 0, got " + std::to_string(c.threads));
  if (c.limit_train == 0 || c.limit_train < -1)
    fail("--limit-train: expected a number >= 1 (or -1 for all), got " + std::to_string(c.limit_train));
  if (c.limit_test == 0 || c.limit_test < -1)
    fail("--limit-test: expected a number >= 1 (or -1 for all), got " + std::to_string(c.limit_test));
  // Formats and roundings are checked by QuantSetup, with quant's parsers.
  parse_loss_scale(c.loss_scale);  // throws naming --loss-scale
  if (c.swa_start == 0 || c.swa_start < -1)
    fail("--swa-start: expected an epoch >= 1 (or -1 for off), got " + std::to_string(c.swa_start));
  if (c.swa_start > c.epochs)
    fail("--swa-start: epoch " + std::to_string(c.swa_start) + " is after the last epoch (" +
         std::to_string(c.epochs) + ")");
  if (!c.metrics_path.empty() && extension(c.metrics_path) != ".json")
    fail("--metrics: expected a file name ending in .json, got '" + c.metrics_path + "'");
  if (!c.plot_path.empty() && !one_of(extension(c.plot_path), {".png", ".svg"}))
    fail("--plot: expected a file name ending in .png or .svg, got '" + c.plot_path + "'");
  check_output_path("--metrics", c.metrics_path);
  check_output_path("--plot", c.plot_path);
  check_output_path("--checkpoint", c.checkpoint_path);
  if (!c.resume_path.empty() && !std::filesystem::is_regular_file(c.resume_path))
    fail("--resume: no such file '" + c.resume_path + "'");
}

}  // namespace qtrain
