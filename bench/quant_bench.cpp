// Quantizer kernel speed on 2^24 float32 elements next to a plain copy of the same tensor
// in the same run (docs/benchmarks.md: >= 0.8 of the copy for nearest, >= 0.6 for stochastic).
// Group "alloc": a fresh output per call (x.clone() is the baseline, a single-threaded
// allocate + memcpy is shown too); group "into": a preallocated output (out.copy_(x)).
// Group "cache": 2^15 elements, in cache and single-threaded (below the kernels' parallel
// threshold), as in training, where most quantized tensors are that small; the counter
// ns_per_elem gives the cost per element.
// Run: build/bench/quant_bench   (the table at the end gives each share of the copy speed)
#include <cstring>

#include "qtorch/core/tensor.h"
#include "qtorch/quant/quantize.h"
#include "ratio_reporter.h"

using namespace qtorch;

namespace {

constexpr int64_t kElems = int64_t{1} << 24;

constexpr int64_t kCacheElems = int64_t{1} << 15;
constexpr int64_t kCacheRows = 128;  // the square cases' [128, 256] view of the cache input

const Tensor& input() {
  static Tensor x = [] {
    manual_seed(1);
    return randn({kElems});
  }();
  return x;
}

const Tensor& cache_input() {
  static Tensor x = [] {
    manual_seed(2);
    return randn({kCacheElems});
  }();
  return x;
}

struct Case {
  const char* name;
  Number number;
  Rounding rounding;
  bool square = false;  // the input viewed as [4096, 4096] (blocks down columns: axis 0)
};

const Case kCases[] = {
    {"fixed_8_6_nearest", FixedPoint{.wl = 8, .fl = 6}, Rounding::Nearest},
    {"fixed_8_6_stochastic", FixedPoint{.wl = 8, .fl = 6}, Rounding::Stochastic},
    {"float_5_2_nearest", FloatingPoint{.exp = 5, .man = 2}, Rounding::Nearest},
    {"float_5_2_stochastic", FloatingPoint{.exp = 5, .man = 2}, Rounding::Stochastic},
    {"block_8_nearest", BlockFloatingPoint{.wl = 8, .dim = -1}, Rounding::Nearest},
    {"block_8_stochastic", BlockFloatingPoint{.wl = 8, .dim = -1}, Rounding::Stochastic},
    {"e5m2_nearest_even", formats::fp8_e5m2(), Rounding::NearestEven},
    // CPFloat's published modes on e5m2 (docs/benchmarks.md): nearest ties away, stochastic.
    {"e5m2_nearest_away", formats::fp8_e5m2(), Rounding::Nearest},
    {"e5m2_stochastic", formats::fp8_e5m2(), Rounding::Stochastic},
    // Block-scaled formats (docs/benchmarks.md: mxfp8 >= 0.6 of the copy for nearest-even,
    // >= 0.5 for stochastic; nvfp4 the same apart from its tensor-wide max pass).
    {"mxfp8_nearest_even", formats::mxfp8(), Rounding::NearestEven},
    {"mxfp8_stochastic", formats::mxfp8(), Rounding::Stochastic},
    {"mxfp4_nearest_even", formats::mxfp4(), Rounding::NearestEven},
    {"nvfp4_nearest_even", formats::nvfp4(), Rounding::NearestEven},
    {"nvfp4_stochastic", formats::nvfp4(), Rounding::Stochastic},
    // The same formats with blocks down the columns of a [4096, 4096] view (axis 0: the
    // layout of blocks across channels or along a weight's first axis).
    {"mxfp8_axis0_nearest_even", MXFormat{.element = MXElement::E4M3, .block = 32, .axis = 0},
     Rounding::NearestEven, true},
    {"nvfp4_axis0_nearest_even", NVFP4Format{.block = 16, .axis = 0}, Rounding::NearestEven, true},
    {"nvfp4_axis0_stochastic", NVFP4Format{.block = 16, .axis = 0}, Rounding::Stochastic, true},
};

constexpr int64_t kSide = int64_t{1} << 12;  // kSide * kSide = kElems

Tensor shaped(const Tensor& x, const Case& c) { return c.square ? x.view({kSide, kSide}) : x; }

void set_bytes(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * kElems);
  state.SetBytesProcessed(state.iterations() * kElems * 2 * static_cast<int64_t>(sizeof(float)));
}

void copy_alloc(benchmark::State& state) {
  const Tensor& x = input();
  for (auto _ : state) benchmark::DoNotOptimize(x.clone().data_ptr());
  set_bytes(state);
}

void memcpy_alloc(benchmark::State& state) {
  const Tensor& x = input();
  for (auto _ : state) {
    Tensor out = empty(x.shape());
    std::memcpy(out.data_ptr(), x.data_ptr(), sizeof(float) * static_cast<size_t>(kElems));
    benchmark::DoNotOptimize(out.data_ptr());
  }
  set_bytes(state);
}

void quantize_alloc(benchmark::State& state, const Case& c) {
  const Tensor x = shaped(input(), c);
  for (auto _ : state)
    benchmark::DoNotOptimize(quant::quantize(x, c.number, c.rounding).data_ptr());
  set_bytes(state);
}

void copy_into(benchmark::State& state) {
  const Tensor& x = input();
  Tensor out = empty(x.shape());
  for (auto _ : state) benchmark::DoNotOptimize(out.copy_(x).data_ptr());
  set_bytes(state);
}

void quantize_into(benchmark::State& state, const Case& c) {
  const Tensor x = shaped(input(), c);
  Tensor out = empty(x.shape());
  for (auto _ : state) {
    quant::quantize_into(x, out, c.number, c.rounding);
    benchmark::DoNotOptimize(out.data_ptr());
  }
  set_bytes(state);
}

void set_cache_counters(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * kCacheElems);
  state.counters["ns_per_elem"] = benchmark::Counter(
      static_cast<double>(kCacheElems) * 1e-9 * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void copy_cache(benchmark::State& state) {
  const Tensor& x = cache_input();
  Tensor out = empty(x.shape());
  for (auto _ : state) benchmark::DoNotOptimize(out.copy_(x).data_ptr());
  set_cache_counters(state);
}

void quantize_cache(benchmark::State& state, const Case& c) {
  const Tensor x = c.square ? cache_input().view({kCacheRows, kCacheElems / kCacheRows}) : cache_input();
  Tensor out = empty(x.shape());
  for (auto _ : state) {
    quant::quantize_into(x, out, c.number, c.rounding);
    benchmark::DoNotOptimize(out.data_ptr());
  }
  set_cache_counters(state);
}

const bool registered = [] {
  benchmark::RegisterBenchmark("alloc/baseline", copy_alloc)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("alloc/memcpy_1thread", memcpy_alloc)->Unit(benchmark::kMillisecond);
  for (const Case& c : kCases)
    benchmark::RegisterBenchmark((std::string("alloc/") + c.name).c_str(), quantize_alloc, c)
        ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("into/baseline", copy_into)->Unit(benchmark::kMillisecond);
  for (const Case& c : kCases)
    benchmark::RegisterBenchmark((std::string("into/") + c.name).c_str(), quantize_into, c)
        ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("cache/baseline", copy_cache)->Unit(benchmark::kMicrosecond);
  for (const Case& c : kCases)
    benchmark::RegisterBenchmark((std::string("cache/") + c.name).c_str(), quantize_cache, c)
        ->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace

QTORCH_BENCHMARK_MAIN()
