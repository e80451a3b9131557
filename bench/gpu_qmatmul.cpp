// GPU low-precision multiply-accumulate (quant::qmatmul) next to cuBLAS sgemm
// (ops::matmul on CUDA tensors) in the same process, at MNIST fc1's forward shape with a
// batch of 1024: [1024, 784] x [784, 256] (docs/benchmarks.md; goal: at most 10x cuBLAS's
// time with an fp16 accumulator, no multiply format), and with the options of the general
// chain. Each timed iteration queues 10 calls
// and waits once. Run: build/bench/gpu_qmatmul   (exits at once, saying so, when no GPU
// is visible)
#include <chrono>
#include <cstdio>
#include <string>

#include "qtorch/core/backend.h"
#include "qtorch/core/ops.h"
#include "qtorch/qtorch.h"
#include "qtorch/quant/mac.h"
#include "ratio_reporter.h"

using namespace qtorch;

namespace {

constexpr int64_t kM = 1024, kK = 784, kN = 256;
constexpr int kCallsPerIteration = 10;

struct Operands {
  Tensor a, b;
};

Operands& operands() {
  static Operands o = [] {
    manual_seed(1);
    return Operands{randn({kM, kK}, Device::cuda()), randn({kK, kN}, Device::cuda())};
  }();
  return o;
}

/// Times kCallsPerIteration calls of f per iteration, waiting for the GPU at the end.
template <class F>
void timed(benchmark::State& state, F f) {
  Backend& gpu = backend_for(Device::cuda());
  f();  // warm-up: lazy initialisation (cuBLAS handle), first launch of each kernel
  gpu.synchronize();
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCallsPerIteration; ++i) f();
    gpu.synchronize();
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  state.SetItemsProcessed(state.iterations() * kCallsPerIteration * kM * kN * kK);  // multiply-adds
}

void sgemm_baseline(benchmark::State& state) {
  Operands& o = operands();
  timed(state, [&] { benchmark::DoNotOptimize(ops::matmul(o.a, o.b)); });
}

void qmatmul_case(benchmark::State& state, std::string options) {
  Operands& o = operands();
  const quant::MacOptions mac = quant::parse_mac(options);
  timed(state, [&] { benchmark::DoNotOptimize(quant::qmatmul_forward(o.a, o.b, mac)); });
}

void register_all() {
  const std::string group = "qmatmul_1024x784x256";
  benchmark::RegisterBenchmark((group + "/baseline").c_str(), sgemm_baseline)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  struct Variant {
    const char* name;
    const char* options;
  };
  // acc_fp16 is the goal's row; the stochastic row adds one Philox block per rounding. Both
  // run the kernel of the one-rounding chain (PlainMacState); the last two run the general
  // one (MacState), as in qmatmul_bench.
  const Variant variants[] = {{"acc_fp16", "acc=fp16"},
                              {"acc_fp16_stochastic", "acc=fp16,acc_rounding=stochastic"},
                              {"acc_fp16_e5m2_mul_chunk64", "acc=fp16,mul=e5m2,chunk=64"},
                              {"acc_fp16_e5m2_mul_stochastic", "acc=fp16,mul=e5m2,mul_rounding=stochastic"},
                              {"acc_bf16_kahan", "acc=bf16,kahan"}};
  for (const Variant& v : variants)
    benchmark::RegisterBenchmark((group + "/" + v.name).c_str(), qmatmul_case, std::string(v.options))
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  return qtorch::bench::run_with_ratios(argc, argv, [] {
    if (!qtorch::cuda_is_available()) {
      std::printf("%s: no CUDA device visible (or a build without CUDA): nothing to run\n", "gpu_qmatmul");
      return false;
    }
    register_all();
    return true;
  });
}
