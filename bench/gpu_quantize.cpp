// GPU quantizer throughput next to a device-to-device copy of the same tensor in the same
// process (docs/benchmarks.md: 2^26 float32 elements; goal: at least 0.9 of the copy for
// every family and rounding mode). Each timed iteration queues 10 calls and waits once.
// Group optimlp_mlp_block8: OptimLP's 18 small tensors per MLP step, one call per tensor
// against one call per role's list. Group linear_outputs_mlp_block8: the MLP's three linear
// outputs, the bias add then the quantizer (baseline) against the sum formed inside the
// quantize pass (quant::quantize_bias_add).
// The with_mask variants also write the mask (12 bytes per element against the copy's 8):
// the bracketed figure after their ratio is their share of the copy's bytes/s.
// Run: build/bench/gpu_quantize   (exits at once, saying so, when no GPU is visible)
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/core/ops.h"
#include "qtorch/qtorch.h"
#include "qtorch/quant/quantize.h"
#include "ratio_reporter.h"

using namespace qtorch;

namespace {

constexpr int64_t kElems = int64_t{1} << 26;
constexpr int kCallsPerIteration = 10;

struct Buffers {
  Tensor x, out, mask;
};

Buffers& buffers() {
  static Buffers b = [] {
    manual_seed(1);
    Buffers r;
    r.x = randn({kElems}, Device::cuda());
    r.out = empty({kElems}, Device::cuda());
    return r;
  }();
  return b;
}

/// Times kCallsPerIteration calls of f (each quantizing `elems` elements, moving
/// `bytes_per_element` bytes each) per iteration, waiting for the GPU at the end.
template <class F>
void timed(benchmark::State& state, F f, int64_t elems = kElems, int64_t bytes_per_element = 8) {
  Backend& gpu = backend_for(Device::cuda());
  f();  // warm-up: lazy initialisation, first launch of each kernel
  gpu.synchronize();
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCallsPerIteration; ++i) f();
    gpu.synchronize();
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  state.SetItemsProcessed(state.iterations() * kCallsPerIteration * elems);
  state.SetBytesProcessed(state.iterations() * kCallsPerIteration * elems * bytes_per_element);
  state.counters[bench::kBytesPerIteration] = static_cast<double>(kCallsPerIteration * elems * bytes_per_element);
}

void copy_baseline(benchmark::State& state) {
  Buffers& b = buffers();
  timed(state, [&] { ops::copy_into(b.out, b.x); });
}

/// with_mask: also the clamp mask; counted: the counts added to a quant::StatsCounter (on
/// the device, read once at the end, as a training step counts its quantizers).
void quantize_case(benchmark::State& state, Number number, Rounding rounding, bool with_mask, bool counted) {
  Buffers& b = buffers();
  // Block formats with dim 0 see the tensor as 65536 rows of 1024 (one exponent per row);
  // MX and NVFP4 cut each row of 1024 into blocks along it (the last axis).
  const Shape shape = {int64_t{1} << 16, kElems >> 16};
  Tensor x = b.x.view(shape), out = b.out.view(shape);
  Tensor mask;
  quant::StatsCounter counter;
  // Read x, write out (and the mask, a float per element).
  const int64_t bytes_per_element = with_mask ? 12 : 8;
  timed(
      state,
      [&] {
        quant::quantize_into(x, out, number, rounding,
                             {.mask = with_mask ? &mask : nullptr, .counter = counted ? &counter : nullptr});
      },
      kElems, bytes_per_element);
  if (counted) {
    const QuantStats totals = counter.read();
    state.counters["clamped_fraction"] = totals.numel > 0 ? double(totals.clamped) / double(totals.numel) : 0.0;
  }
}

/// OptimLP's quantizers in train_bench's block8 MLP step: weights, gradients and momentum of
/// its six parameters, block 8 along dim 0, stochastic. Baseline: one call per tensor (18
/// launches); "lists": one quantize_each_in_place per role (3 launches).
void optimizer_step(benchmark::State& state, bool lists) {
  const Shape shapes[] = {{256, 784}, {256}, {256, 256}, {256}, {10, 256}, {10}};
  std::vector<std::vector<Tensor>> roles(3);
  int64_t elems = 0;
  for (auto& role : roles)
    for (const Shape& shape : shapes) {
      role.push_back(randn(shape, Device::cuda()));
      elems += role.back().numel();
    }
  const Number block8 = BlockFloatingPoint{.wl = 8, .dim = 0};
  timed(
      state,
      [&] {
        for (const auto& role : roles) {
          if (lists) {
            quant::quantize_each_in_place(role, block8, Rounding::Stochastic);
          } else {
            for (const Tensor& x : role) quant::quantize_into(x, x, block8, Rounding::Stochastic);
          }
        }
      },
      elems);
}

/// The forward quantizers after the MLP's three linear layers at batch 128 (block 8 along
/// dim 0, stochastic): baseline, the bias add and then the quantize call (two launches and
/// an intermediate tensor per layer); "fused", quantize_bias_add (one launch).
void linear_outputs(benchmark::State& state, bool fused) {
  const int64_t widths[] = {256, 256, 10};
  std::vector<std::pair<Tensor, Tensor>> layers;
  int64_t elems = 0;
  for (int64_t w : widths) {
    layers.emplace_back(randn({128, w}, Device::cuda()), randn({w}, Device::cuda()));
    elems += 128 * w;
  }
  const Number block8 = BlockFloatingPoint{.wl = 8, .dim = 0};
  timed(
      state,
      [&] {
        for (const auto& [product, bias] : layers) {
          if (fused)
            benchmark::DoNotOptimize(quant::quantize_bias_add(product, bias, -1, block8, Rounding::Stochastic));
          else
            benchmark::DoNotOptimize(
                quant::quantize(ops::binary(BinaryOp::Add, product, bias, "bench"), block8, Rounding::Stochastic));
        }
      },
      elems);
}

void register_all() {
  for (bool fused : {false, true})
    benchmark::RegisterBenchmark(fused ? "linear_outputs_mlp_block8/fused" : "linear_outputs_mlp_block8/baseline",
                                 linear_outputs, fused)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("optimlp_mlp_block8/baseline", optimizer_step, false)
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("optimlp_mlp_block8/lists", optimizer_step, true)
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);

  const std::string group = "quantize_2^26";
  benchmark::RegisterBenchmark((group + "/baseline").c_str(), copy_baseline)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  struct Family {
    const char* name;
    Number number;
  };
  const Family families[] = {{"fixed_8_6", FixedPoint{.wl = 8, .fl = 6}},
                             {"float_e5m2", FloatingPoint{.exp = 5, .man = 2}},
                             {"block_8", BlockFloatingPoint{.wl = 8, .dim = -1}},
                             {"block_8_rows", BlockFloatingPoint{.wl = 8, .dim = 0}}};
  const Rounding roundings[] = {Rounding::Nearest,    Rounding::Stochastic, Rounding::NearestEven,
                                Rounding::TowardZero, Rounding::Up,         Rounding::Down};
  for (const Family& f : families) {
    for (Rounding r : roundings) {
      std::string name = group + "/" + f.name + "_" + rounding_name(r);
      benchmark::RegisterBenchmark(name.c_str(), quantize_case, f.number, r, false, false)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
    std::string name = group + "/" + f.name + "_stochastic_with_mask";
    benchmark::RegisterBenchmark(name.c_str(), quantize_case, f.number, Rounding::Stochastic, true, false)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    name = group + "/" + f.name + "_stochastic_counted";
    benchmark::RegisterBenchmark(name.c_str(), quantize_case, f.number, Rounding::Stochastic, false, true)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  // The block-scaled formats in the roundings training uses (NVFP4 reads the tensor twice:
  // once for its largest finite magnitude).
  struct BlockScaled {
    const char* name;
    Number number;
    Rounding rounding;
  };
  const BlockScaled block_scaled[] = {{"mxfp8", formats::mxfp8(), Rounding::NearestEven},
                                      {"mxfp8", formats::mxfp8(), Rounding::Stochastic},
                                      {"mxfp4", formats::mxfp4(), Rounding::NearestEven},
                                      {"nvfp4", formats::nvfp4(), Rounding::NearestEven}};
  for (const BlockScaled& f : block_scaled) {
    std::string name = group + "/" + f.name + "_" + rounding_name(f.rounding);
    benchmark::RegisterBenchmark(name.c_str(), quantize_case, f.number, f.rounding, false, false)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  return qtorch::bench::run_with_ratios(argc, argv, [] {
    if (!qtorch::cuda_is_available()) {
      std::printf("%s: no CUDA device visible (or a build without CUDA): nothing to run\n", "gpu_quantize");
      return false;
    }
    register_all();
    return true;
  });
}
