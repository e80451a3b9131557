// CLI11 set-up for qtrain and the option checks that need nothing but the values.
#include "examples/qtrain/cli.h"

#include <CLI/CLI.hpp>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <variant>

#include "qtorch/data/mnist.h"
#include "examples/common/option_number.h"
#include "examples/common/option_values.h"
#include "examples/common/output_path.h"
#include "qtorch/core/error.h"
#include "qtorch/dist/payload.h"
#include "qtorch/train/trainer.h"

namespace qtrain {
namespace {

namespace train = qtorch::train;

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument(message); }

bool one_of(const std::string& v, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (v == n) return true;
  return false;
}

using qtorch::examples::check_output_path;
using qtorch::examples::parse_integer_option;
using qtorch::examples::refuse_empty_values;
using qtorch::examples::parse_real_option;
using qtorch::examples::parse_unsigned_option;

// The ranges of the numeric options, for the command line and for a Config made in code.
constexpr int64_t kMaxEpochs = 1'000'000;
constexpr int64_t kMaxBatchSize = 1'000'000;  // 10^6 images of 28x28 floats: 3 GB per batch
constexpr int64_t kMaxLimit = std::numeric_limits<int64_t>::max();  // more than any data set
constexpr int64_t kMaxThreads = 1024;
constexpr int kMaxGpuIndex = 1023;

struct RealRange {
  bool (*in_range)(double);
  const char* expected;
};
constexpr RealRange kLrRange{[](double v) { return v > 0; }, "a finite number > 0"};
constexpr RealRange kMomentumRange{[](double v) { return v >= 0 && v < 1; }, "a number in [0, 1)"};
constexpr RealRange kWeightDecayRange{[](double v) { return v >= 0; }, "a finite number >= 0"};

// Shortest text that reads back as exactly v ("0.05", "inf", "nan").
std::string exact_text(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

double parse_real(const std::string& option, const std::string& text, const RealRange& range) {
  return parse_real_option(option, text, range.in_range, range.expected);
}

// -1 (`minus_one` says what it means: "all", "off") or an integer in [1, max].
int64_t parse_count_or_minus_one(const std::string& option, const std::string& text, int64_t max,
                                 const std::string& minus_one) {
  if (text == "-1") return -1;
  try {
    return parse_integer_option(option, text, 1, max);
  } catch (const std::invalid_argument&) {
    fail(option + ": expected -1 (" + minus_one + ") or an integer in [1, " + std::to_string(max) + "], got '" +
         text + "'");
  }
}

// The checks of a Config made in code go through the text parsers: one message per option.
void check_integer(const std::string& option, int64_t value, int64_t min, int64_t max) {
  parse_integer_option(option, std::to_string(value), min, max);
}
void check_real(const std::string& option, double value, const RealRange& range) {
  parse_real(option, exact_text(value), range);
}

std::string extension(const std::string& path) {
  return std::filesystem::path(path).extension().string();
}

// cpu, cuda or cuda:N with N a GPU index (digits only, no sign or blank).
void check_device(const std::string& device) {
  if (device == "cpu" || device == "cuda") return;
  const std::string prefix = "cuda:";
  int index = -1;
  if (device.rfind(prefix, 0) == 0) {
    const char* first = device.data() + prefix.size();
    const char* last = device.data() + device.size();
    auto [ptr, ec] = std::from_chars(first, last, index);
    if (first != last && std::isdigit(static_cast<unsigned char>(*first)) && ec == std::errc() &&
        ptr == last && index <= kMaxGpuIndex)
      return;
  }
  fail("--device: expected cpu, cuda or cuda:N (N a GPU index, 0 to " + std::to_string(kMaxGpuIndex) +
       "), got '" + device + "'");
}

// Block formats share one exponent along DIM (MX and NVFP4: blocks along AXIS), which must exist in every tensor the
// option's quantizer sees: weights, gradients, momentum, accumulators and the gradients sent between processes
// (--comm-format) include the 1-D biases (and batch-norm scales); activations and errors are 2-D after linear layers in
// every model (and 4-D after convolutions in lenet and cnn).
void check_format_dims(const std::string& option, const std::optional<qtorch::Number>& number, bool activations,
                       const Config& c) {
  if (!number) return;
  const int smallest_rank = activations ? 2 : 1;
  const std::string why = activations ? c.model + "'s activations after linear layers are 2-D" : "biases are 1-D";
  // MX and NVFP4 blocks run along AXIS (negative: from the end), which must exist too.
  std::optional<int> axis;
  if (const auto* mx = std::get_if<qtorch::MXFormat>(&*number)) axis = mx->axis;
  if (const auto* nv = std::get_if<qtorch::NVFP4Format>(&*number)) axis = nv->axis;
  if (axis && (*axis >= smallest_rank || *axis < -smallest_rank))
    fail(option + " " + qtorch::number_text(number) + ": expected AXIS " + (activations ? "-2, -1, 0 or 1" : "-1 or 0") +
         " (" + why + "), got " + std::to_string(*axis));
  const auto* block = std::get_if<qtorch::BlockFloatingPoint>(&*number);
  if (block && block->dim >= smallest_rank)
    fail(option + " " + qtorch::number_text(number) + ": expected DIM " + (activations ? "-1, 0 or 1" : "-1 or 0") +
         " (" + why + "), got " + std::to_string(block->dim));
}

void check_block_dims(const Config& c) {
  for (Role r : train::kRoles)
    check_format_dims(std::string("--") + train::role_name(r) + "-format", c.recipe[r].number,
                      r == Role::Activation || r == Role::Error, c);
  check_format_dims("--comm-format", c.recipe.comm.number, false, c);
}

// The library's messages start with the function name; the option name replaces it.
template <class Parse>
auto parse_as(const std::string& option, const std::string& prefix, Parse parse) {
  try {
    return parse();
  } catch (const qtorch::Error& e) {
    std::string m = e.what();
    if (m.rfind(option, 0) == 0) fail(m);  // already named
    fail(option + ": " + (m.rfind(prefix, 0) == 0 ? m.substr(prefix.size()) : m));
  }
}

std::string epilog() {
  std::string out = "Presets (--preset; explicit --<role>-format/--<role>-rounding win):\n";
  for (const train::Preset& p : train::presets()) out += "  " + p.name + ": " + p.summary + "\n";
  out +=
      "Formats (docs/numerics.md; block DIM -1: one block per tensor): " + std::string(qtorch::number_text_forms()) +
      ".\n"
      "Roundings: stochastic, nearest, nearest_even, toward_zero, up, down.\n"
      "Without arguments: LeNet on Fashion-MNIST with the block8 preset for 2 epochs.";
  return out;
}

}  // namespace

std::optional<int> parse_command_line(int argc, char** argv, Config& cfg, std::string* error) {
  auto report = [&](const std::string& message) {
    if (error) *error = message;
    else std::fprintf(stderr, "qtrain: error: %s\n", message.c_str());
  };
  CLI::App app{"qtrain: train an MLP or a CNN on Fashion-MNIST in simulated low precision",
               "qtrain"};
  app.footer(epilog());
  app.option_defaults()->always_capture_default();
  cfg.data_dir = qtorch::data::kFashionMnistDir;

  app.add_option("--model", cfg.model, "mlp (784-256-256-10), lenet (LeNet-5) or cnn (VGG-style, batch norm)");
  app.add_option("--data-dir", cfg.data_dir, "folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]");
  app.add_flag("--normalize", cfg.normalize, "normalise pixels to mean 0, std 1 (Fashion-MNIST statistics)");
  // Numbers are read as text and parsed after app.parse: CLI11 would take "" as 0
  // and clamp or wrap values beyond the variable's type.
  std::string limit_train = std::to_string(cfg.limit_train), limit_test = std::to_string(cfg.limit_test),
              epochs = std::to_string(cfg.epochs), batch_size = std::to_string(cfg.batch_size),
              lr = exact_text(cfg.lr), momentum = exact_text(cfg.momentum),
              weight_decay = exact_text(cfg.weight_decay), seed = std::to_string(cfg.seed),
              threads = std::to_string(cfg.threads), swa_start = std::to_string(cfg.swa_start);
  app.add_option("--limit-train", limit_train, "use only the first N training images (-1: all)")->type_name("INT");
  app.add_option("--limit-test", limit_test, "use only the first N test images (-1: all)")->type_name("INT");
  app.add_option("--epochs", epochs, "number of epochs, 0 to " + std::to_string(kMaxEpochs) + " (0: only evaluate)")->type_name("INT");
  app.add_option("--batch-size", batch_size, "mini-batch size, 1 to " + std::to_string(kMaxBatchSize))->type_name("INT");
  app.add_option("--lr", lr, "learning rate (> 0)")->type_name("NUMBER");
  app.add_option("--momentum", momentum, "SGD momentum, in [0, 1)")->type_name("NUMBER");
  app.add_option("--weight-decay", weight_decay, "L2 weight decay, >= 0 (decoupled for adamw)")->type_name("NUMBER");
  app.add_option("--optimizer", cfg.optimizer, "sgd, adam or adamw");
  app.add_option("--schedule", cfg.schedule, "learning-rate schedule: constant, cosine, step:EVERY:GAMMA or swalp:EPOCHS:RATIO (epochs)");
  app.add_option("--seed", seed, "seed of initialisation, shuffling and stochastic rounding (0 to 2^64 - 1)")->type_name("INT");
  app.add_flag("--isolated-evaluation", cfg.isolated_evaluation,
               "evaluations round stochastically with a stream of their own (seed: --seed xor 0x9E3779B97F4A7C15) "
               "and leave training's alone, so the test set and how often it is evaluated cannot change training "
               "(default: one stream for both, as QPyTorch)");
  app.add_option("--threads", threads, "CPU threads, 0 to " + std::to_string(kMaxThreads) + " (0: the library default)")->type_name("INT");
  app.add_option("--device", cfg.device, "cpu or cuda[:N]");

  app.add_option("--preset", cfg.preset, "number-format recipe: " + train::preset_names());
  std::array<std::string, train::kNumRoles> format_flags, rounding_flags;
  std::array<CLI::Option*, train::kNumRoles> format_opts{}, rounding_opts{};
  for (Role r : train::kRoles) {
    int i = static_cast<int>(r);
    std::string name = train::role_name(r);
    format_opts[i] = app.add_option("--" + name + "-format", format_flags[i],
                                    "number format of the " + name + " role (overrides the preset)");
    format_opts[i]->default_str("");
    rounding_opts[i] = app.add_option("--" + name + "-rounding", rounding_flags[i],
                                      "rounding of the " + name + " role (overrides the preset; a role only --" +
                                          name + "-format quantizes: nearest)");
    rounding_opts[i]->default_str("");
  }
  std::string loss_scale, quantize_after = train::layer_kinds_text(train::Recipe{}.quantize_after);
  auto* loss_scale_opt = app.add_option(
      "--loss-scale", loss_scale,
      "loss scaling: none, static:S, dynamic[:S[:INTERVAL]] or multiplier:K (default: the preset's)");
  app.add_option("--quantize-after", quantize_after,
                 "layer kinds followed by the activation/error quantizer: comma-separated linear, conv, "
                 "normalization, activation, pooling, or all (docs/benchmarks.md's block8: all)");
  std::string mac_forward, mac_backward;
  auto* mac_forward_opt = app.add_option(
      "--mac-forward", mac_forward,
      "low-precision multiply-accumulate in the layers' forward products, e.g. acc=fp16,mul=e5m2,chunk=64 "
      "(keys acc, mul, acc_rounding, mul_rounding, chunk, fma, kahan), or fp32 (default: the preset's)");
  auto* mac_backward_opt = app.add_option("--mac-backward", mac_backward,
                                          "the same for the backward products (input and weight gradients)");
  std::string comm_format, comm_rounding;
  auto* comm_format_opt = app.add_option(
      "--comm-format", comm_format,
      "data-parallel (mpirun): the format gradients are sent in, e.g. block:8 or e4m3 (fp32: float32; "
      "default: the preset's)");
  auto* comm_rounding_opt = app.add_option("--comm-rounding", comm_rounding, "rounding of --comm-format");
  bool comm_error_feedback = false;
  app.add_flag("--comm-error-feedback", comm_error_feedback,
               "keep each process's quantization residual and add it to its next gradient");
  app.add_option("--sweep", cfg.sweep_path,
                 "run every line of FILE (qtrain options) as its own training run, spread over the MPI processes; "
                 "every line is checked before the first run; --metrics names the JSON of all runs (the only "
                 "other option allowed beside --sweep, with --no-progress)");
  app.add_option("--swa-start", swa_start, "average weights from this epoch on (SWA); -1: off")->type_name("INT");

  app.add_option("--metrics", cfg.metrics_path, "write configuration and per-epoch metrics to FILE.json");
  app.add_option("--plot", cfg.plot_path, "draw loss and accuracy per epoch to FILE.png or FILE.svg (gnuplot)");
  app.add_option("--compare", cfg.compare, "plot several metrics files together (no training); with --plot, "
                                           "the only other option allowed beside it (and --no-progress)")
      ->expected(1, -1);
  app.add_option("--checkpoint", cfg.checkpoint_path, "save model and optimizer state to FILE after every epoch");
  app.add_option("--resume", cfg.resume_path, "continue training from a --checkpoint FILE");
  // Two flags rather than CLI11's "--stop-on-nan,!--no-stop-on-nan", whose help reads
  // "{false}" as if that were the default.
  auto* stop_on_nan = app.add_flag("--stop-on-nan", cfg.stop_on_nan,
                                   "end with exit status 3 once the training state (weights, buffers, optimizer "
                                   "state) holds NaN or infinite values, or, without a loss scaler (which skips such "
                                   "steps), the mean training loss does (the default)");
  app.add_flag_callback("--no-stop-on-nan", [&cfg] { cfg.stop_on_nan = false; },
                        "train on past NaN or inf, with a warning per epoch")
      ->excludes(stop_on_nan);
  bool no_progress = false;
  app.add_flag("--no-progress", no_progress, "no progress bar or periodic lines");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    report(std::string(e.what()) + " (see qtrain --help)");
    return 2;
  }
  cfg.progress = !no_progress;

  try {
    // A given option with an empty value is an error, not "option not given": a script whose
    // $CHECKPOINT is unset would otherwise train from scratch, or write nothing, silently.
    refuse_empty_values(app, {{"--data-dir", "a folder"},
                              {"--resume", "a file name"},
                              {"--checkpoint", "a file name"},
                              {"--metrics", "a file name"},
                              {"--plot", "a file name"},
                              {"--sweep", "a file name"},
                              {"--loss-scale", "a value"},
                              {"--quantize-after", "a value"},
                              {"--mac-forward", "a value"},
                              {"--mac-backward", "a value"},
                              {"--optimizer", "a value"},
                              {"--schedule", "a value"},
                              {"--device", "a value"}});
    cfg.limit_train = parse_count_or_minus_one("--limit-train", limit_train, kMaxLimit, "all");
    cfg.limit_test = parse_count_or_minus_one("--limit-test", limit_test, kMaxLimit, "all");
    cfg.epochs = parse_integer_option("--epochs", epochs, 0, kMaxEpochs);
    cfg.batch_size = parse_integer_option("--batch-size", batch_size, 1, kMaxBatchSize);
    cfg.lr = parse_real("--lr", lr, kLrRange);
    cfg.momentum = parse_real("--momentum", momentum, kMomentumRange);
    cfg.weight_decay = parse_real("--weight-decay", weight_decay, kWeightDecayRange);
    cfg.seed = parse_unsigned_option("--seed", seed);
    cfg.threads = static_cast<int>(parse_integer_option("--threads", threads, 0, kMaxThreads));
    cfg.swa_start = parse_count_or_minus_one("--swa-start", swa_start, kMaxEpochs, "off");
    // --compare only reads metrics files and plots them, and a sweep's runs take their options
    // from its lines: any other option given beside them would silently change nothing.
    auto refuse_options_besides = [&](std::initializer_list<const char*> allowed, const std::string& why) {
      for (const CLI::Option* option : app.get_options())
        if (option->count() && !one_of(option->get_name(), allowed)) fail(option->get_name() + ": " + why);
    };
    if (!cfg.compare.empty())
      refuse_options_besides({"--compare", "--plot", "--no-progress"},
                             "has no effect with --compare (which only plots metrics files); remove one of them");
    if (!cfg.sweep_path.empty())
      refuse_options_besides({"--sweep", "--metrics", "--no-progress"},
                             "not allowed with --sweep (put it on the sweep's lines instead)");
    if (cfg.optimizer != "sgd" && app.get_option("--momentum")->count())
      fail("--momentum: applies to --optimizer sgd only, got --optimizer " + cfg.optimizer +
           " (Adam keeps its own moments, betas 0.9 and 0.999)");
    cfg.recipe = parse_as("--preset", "preset: ", [&] { return train::preset(cfg.preset); });
    if (loss_scale_opt->count())
      cfg.recipe.loss_scaling = parse_as("--loss-scale", "", [&] { return train::parse_loss_scaling(loss_scale, "--loss-scale"); });
    cfg.recipe.quantize_after =
        parse_as("--quantize-after", "", [&] { return train::parse_layer_kinds(quantize_after, "--quantize-after"); });
    auto parse_mac_flag = [&](const std::string& option, const std::string& text) -> std::optional<qtorch::quant::MacOptions> {
      return parse_as(option, "parse_mac: ", [&] { return qtorch::quant::parse_optional_mac(text); });
    };
    if (mac_forward_opt->count()) cfg.recipe.mac_forward = parse_mac_flag("--mac-forward", mac_forward);
    if (mac_backward_opt->count()) cfg.recipe.mac_backward = parse_mac_flag("--mac-backward", mac_backward);
    if (comm_format_opt->count())
      cfg.recipe.comm.number = parse_as("--comm-format", "parse_number: ", [&] { return qtorch::parse_number(comm_format); });
    if (comm_rounding_opt->count())
      cfg.recipe.comm.rounding = parse_as("--comm-rounding", "parse_rounding: ", [&] { return qtorch::parse_rounding(comm_rounding); });
    if (comm_error_feedback) cfg.recipe.comm_error_feedback = true;
    if (cfg.recipe.comm.number)
      parse_as("--comm-format", "", [&] {
        qtorch::dist::check_packable(*cfg.recipe.comm.number, "--comm-format");
        return 0;
      });
    if (cfg.recipe.comm_error_feedback && !cfg.recipe.comm.quantized())
      fail("--comm-error-feedback: keeps the residual of the gradients' communication format, so it needs "
           "--comm-format (got fp32)");
    if (!cfg.sweep_path.empty()) qtorch::examples::check_input_file("--sweep", cfg.sweep_path);
    for (Role r : train::kRoles) {
      int i = static_cast<int>(r);
      const std::string role = std::string("--") + train::role_name(r);
      if (format_opts[i]->count())
        cfg.recipe[r].number = parse_as(role + "-format", "parse_number: ", [&] { return qtorch::parse_number(format_flags[i]); });
      if (rounding_opts[i]->count()) {
        cfg.recipe[r].rounding =
            parse_as(role + "-rounding", "parse_rounding: ", [&] { return qtorch::parse_rounding(rounding_flags[i]); });
        if (!cfg.recipe[r].quantized())
          fail(role + "-rounding: the " + train::role_name(r) + " role stays float32 (neither " + role +
               "-format nor the preset quantizes it), so no rounding applies; got '" + rounding_flags[i] + "'");
      }
    }
    check_config(cfg);
  } catch (const std::invalid_argument& e) {
    report(e.what());
    return 2;
  } catch (const std::exception& e) {  // a check above that failed in an unforeseen way
    report(std::string("cannot check the command line: ") + e.what());
    return 2;
  }
  return std::nullopt;
}

void check_config(const Config& c) {
  if (!c.compare.empty()) {
    for (const std::string& path : c.compare) qtorch::examples::check_input_file("--compare", path, "metrics file");
  }
  // With --compare too: an option's value (its default) is valid.
  if (!one_of(c.model, {"mlp", "lenet", "cnn"}))
    fail("--model: expected mlp, lenet or cnn, got '" + c.model + "'");
  check_integer("--epochs", c.epochs, 0, kMaxEpochs);
  check_integer("--batch-size", c.batch_size, 1, kMaxBatchSize);
  check_real("--lr", c.lr, kLrRange);
  check_real("--momentum", c.momentum, kMomentumRange);
  check_real("--weight-decay", c.weight_decay, kWeightDecayRange);
  if (!one_of(c.optimizer, {"sgd", "adam", "adamw"}))
    fail("--optimizer: expected sgd, adam or adamw, got '" + c.optimizer + "'");
  parse_as("--schedule", "", [&] { return train::parse_schedule(c.schedule, "--schedule"); });
  check_integer("--threads", c.threads, 0, kMaxThreads);
  check_device(c.device);
  parse_count_or_minus_one("--limit-train", std::to_string(c.limit_train), kMaxLimit, "all");
  parse_count_or_minus_one("--limit-test", std::to_string(c.limit_test), kMaxLimit, "all");
  check_block_dims(c);
  parse_as("--loss-scale", "recipe: ", [&] {
    c.recipe.validate();
    return 0;
  });
  parse_count_or_minus_one("--swa-start", std::to_string(c.swa_start), kMaxEpochs, "off");
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
  qtorch::examples::check_distinct_outputs(
      {{"--metrics", c.metrics_path}, {"--plot", c.plot_path}, {"--checkpoint", c.checkpoint_path}});
  if (!c.resume_path.empty()) qtorch::examples::check_input_file("--resume", c.resume_path, "checkpoint file");
  if (!c.checkpoint_path.empty() && c.epochs == 0)
    fail("--checkpoint: --epochs 0 trains nothing, so no checkpoint would be written (remove one of them)");
  if (!c.plot_path.empty() && c.epochs == 0 && c.compare.empty())
    fail("--plot: --epochs 0 trains nothing, so there would be no epoch to draw (remove one of them)");
}

}  // namespace qtrain
