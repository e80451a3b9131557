// qmatmul's speed at [128, 784] x [784, 256] (an MLP's first layer at batch 128) next to
// OpenBLAS sgemm on the same operands and thread count, in the same run (docs/benchmarks.md:
// at most 20x the sgemm time with an fp16 accumulator and exact products, on 1 thread and on
// 2). Group "t1" runs single-threaded, "t2" on two threads. "scalar_chain" is the same
// product with one scalar chain per output and a call per rounding (the design of MPTorch's
// CPU kernel), the vector kernel's reference; "scalar_chain_stochastic" the same with
// stochastic rounding. "fp16_acc_e5m2_mul_stochastic" runs scalar chains too (no vector
// kernel takes a stochastic multiply).
// Run: build/bench/qmatmul_bench   (the table at the end gives each speed as a share of sgemm's)
#include "qtorch/core/ops.h"
#include "qtorch/core/tensor.h"
#include "qtorch/core/threads.h"
#include "qtorch/quant/cpu/qmatmul_cpu.h"
#include "qtorch/quant/mac.h"
#include "qtorch/quant/quantize.h"
#include "ratio_reporter.h"

using namespace qtorch;

namespace {

constexpr int64_t kM = 128, kK = 784, kN = 256;

struct Operands {
  Tensor a, b;
};
const Operands& operands() {
  static Operands o = [] {
    manual_seed(3);
    return Operands{randn({kM, kK}), randn({kK, kN})};
  }();
  return o;
}
// The same operands in e4m3 (FP8 training's forward format): every product is exact in
// float32, so many sums are exact and land on the accumulator's decision points.
const Operands& e4m3_operands() {
  static Operands o = [] {
    const Number e4m3 = *parse_number("e4m3");
    return Operands{quant::quantize(operands().a, e4m3, Rounding::NearestEven),
                    quant::quantize(operands().b, e4m3, Rounding::NearestEven)};
  }();
  return o;
}

void set_items(benchmark::State& state) { state.SetItemsProcessed(state.iterations() * kM * kN * kK); }

void sgemm(benchmark::State& state, int threads) {
  set_num_threads(threads);
  const Operands& o = operands();
  for (auto _ : state) benchmark::DoNotOptimize(ops::matmul(o.a, o.b).data_ptr());
  set_items(state);
}

void qmatmul(benchmark::State& state, int threads, const char* mac, bool e4m3) {
  set_num_threads(threads);
  const Operands& o = e4m3 ? e4m3_operands() : operands();
  const quant::MacOptions options = quant::parse_mac(mac);
  for (auto _ : state) benchmark::DoNotOptimize(quant::qmatmul_forward(o.a, o.b, options).data_ptr());
  set_items(state);
}

// The scalar chain of every output (quant/mac_core.h through qmatmul_cpu without its
// vector kernel): a call per rounding, with acc=fp16 rounded as `rounding` says. It is the
// chain a GPU thread runs.
void scalar_chain(benchmark::State& state, int threads, Rounding rounding) {
  set_num_threads(threads);
  const Operands& o = operands();
  quant::MacParams m;
  m.M = kM, m.K = kK, m.N = kN;
  m.acc = quant::make_quant_params(*parse_number("fp16"), rounding, {1});
  quant::set_mac_word_layout(m);
  Tensor out = empty({kM, kN});
  for (auto _ : state) {
    quant::qmatmul_cpu(o.a.data_ptr(), o.b.data_ptr(), out.data_ptr(), m, 0, 0, false);
    benchmark::DoNotOptimize(out.data_ptr());
  }
  set_items(state);
}

const bool registered = [] {
  for (int threads : {1, 2}) {
    const std::string group = "t" + std::to_string(threads);
    benchmark::RegisterBenchmark((group + "/baseline").c_str(), sgemm, threads)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((group + "/fp16_acc").c_str(), qmatmul, threads, "acc=fp16", false)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((group + "/fp16_acc_e4m3_operands").c_str(), qmatmul, threads, "acc=fp16", true)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((group + "/fp16_acc_e5m2_mul_chunk64").c_str(), qmatmul, threads,
                                 "acc=fp16,mul=e5m2,chunk=64", false)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((group + "/bf16_acc_kahan").c_str(), qmatmul, threads, "acc=bf16,kahan", false)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((group + "/fp16_acc_stochastic").c_str(), qmatmul, threads,
                                 "acc=fp16,acc_rounding=stochastic", false)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((group + "/fp16_acc_e5m2_mul_stochastic").c_str(), qmatmul, threads,
                                 "acc=fp16,mul=e5m2,mul_rounding=stochastic", false)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((group + "/scalar_chain").c_str(), scalar_chain, threads, Rounding::Nearest)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((group + "/scalar_chain_stochastic").c_str(), scalar_chain, threads,
                                 Rounding::Stochastic)
        ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

}  // namespace

QTORCH_BENCHMARK_MAIN()
