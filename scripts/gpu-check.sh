#!/usr/bin/env bash
# The GPU check of the CUDA backend: the CPU-vs-GPU parity suite (tests/cuda), the GPU
# benchmarks (bench/gpu_quantize, bench/train_bench) and three-epoch qtrain runs on Fashion-MNIST
# with --device cuda, with every result written under $OUT.
#
#   scripts/gpu-check.sh bundle   On a machine WITHOUT a GPU (this one): builds the CUDA
#                                 binaries (sm_90 + PTX, no -march=native) in build-gpu/ and
#                                 packs them with the shared libraries they need (and the
#                                 Fashion-MNIST files, when installed here) into
#                                 build-gpu-bundle/qtorch-gpu-bundle.tar.xz (about 37 MB).
#   scripts/gpu-check.sh [run]    On the GPU machine: unpacks that bundle when present (the
#                                 GPU machines have the CUDA Toolkit and cuBLAS but none of
#                                 the Debian build dependencies), else builds from source
#                                 into build-cuda/; then runs the checks.
#
# The parity suite includes the MX/NVFP4 quantizers and qmatmul (tests/cuda).
# With the device tool, after `scripts/gpu-check.sh bundle` here:
#   run(command="bash scripts/gpu-check.sh", carry=["build-gpu-bundle"], timeout_s=540)
# Files under $OUT (flat, at most 8): summary.txt, test_cuda.log, test_cuda.xml,
# gpu_quantize.log, gpu_quantize.json, train_bench.log, train_bench.json, qtrain.log.
# Environment: OUT (default ./gpu-check-out); QTORCH_GPU_SANITIZER=1 adds a
# compute-sanitizer memcheck pass over a quick subset of the parity suite and a racecheck
# pass over the kernels that use shared memory;
# QTORCH_GPU_PROFILE=0 skips the nsys kernel profile of two train_bench workloads;
# QTORCH_GPU_QTRAIN=0 skips the qtrain runs; QTORCH_GPU_BENCH=0 skips every benchmark, the
# profile and qtrain. The whole run takes about 5 minutes on an H100; with the sanitizer
# passes it may not fit one 10-minute device call, so run them as a second call, on an
# nvidia-h100-x1 (the gVisor H200s refuse compute-sanitizer: "Device not supported"):
#   run(command="QTORCH_GPU_SANITIZER=1 QTORCH_GPU_BENCH=0 bash scripts/gpu-check.sh", ...)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE_DIR="$ROOT/build-gpu-bundle"
BUNDLE="$BUNDLE_DIR/qtorch-gpu-bundle.tar.xz"
BINARIES=(tests/test_cuda bench/gpu_quantize bench/gpu_qmatmul bench/train_bench bench/conv_bench examples/qtrain/qtrain)
DATA_FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz
            t10k-labels-idx1-ubyte.gz)

make_bundle() {
  set -e
  local build="$ROOT/build-gpu"
  cmake -S "$ROOT" -B "$build" -DQTORCH_CUDA=ON -DQTORCH_MPI=OFF -DQTORCH_NATIVE=OFF -DQTORCH_BUILD_EXAMPLES=ON \
    -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc)" --target test_cuda gpu_quantize gpu_qmatmul train_bench conv_bench qtrain
  local stage
  stage="$(mktemp -d)"
  mkdir -p "$stage/bin" "$stage/lib"
  for b in "${BINARIES[@]}"; do cp "$build/$b" "$stage/bin/"; done
  cp -L "$build/libqtorch.so" "$stage/lib/"
  # Every shared library not part of the base system or of the CUDA install: the GPU
  # machine has glibc, libstdc++, the driver and the CUDA Toolkit (cudart, cuBLAS).
  ldd "$build/libqtorch.so" "${BINARIES[@]/#/$build/}" | awk '$3 ~ /^\// {print $1, $3}' | sort -u |
    while read -r name path; do
      case "$name" in
        libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|ld-linux*|libstdc++.so*|libgcc_s.so*) ;;
        libcuda.so*|libcudart.so*|libcublas.so*|libcublasLt.so*|libqtorch.so) ;;
        *) cp -L "$path" "$stage/lib/$name" ;;
      esac
    done
  local data=/usr/share/datasets/fashion-mnist f
  if [ -f "$data/${DATA_FILES[0]}" ]; then
    mkdir -p "$stage/data"
    for f in "${DATA_FILES[@]}"; do cp "$data/$f" "$stage/data/"; done
  else
    echo "note: no Fashion-MNIST in $data (install dataset-fashion-mnist): qtrain runs will be skipped"
  fi
  git -C "$ROOT" rev-parse HEAD >"$stage/commit.txt" 2>/dev/null || echo "no commit" >"$stage/commit.txt"
  date -u >>"$stage/commit.txt"
  mkdir -p "$BUNDLE_DIR"
  tar -C "$stage" -cJf "$BUNDLE" .
  rm -rf "$stage"
  ls -la "$BUNDLE"
  echo "bundle ready: carry build-gpu-bundle and run 'bash scripts/gpu-check.sh' on the GPU machine"
}

# The directories holding libcudart/libcublas of CUDA 13 on this machine.
cuda_lib_dirs() {
  local dirs=() d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib \
           /usr/local/cuda-13*/lib64 /usr/local/cuda-13*/targets/x86_64-linux/lib; do
    [ -e "$d/libcublas.so.13" ] && dirs+=("$d")
  done
  # pip wheels (the GPU image's PyTorch cu130 brings nvidia-cublas and nvidia-cuda-runtime)
  for d in $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
    for sub in cu13/lib cublas/lib cuda_runtime/lib; do
      [ -d "$d/nvidia/$sub" ] && dirs+=("$d/nvidia/$sub")
    done
  done
  local IFS=:
  echo "${dirs[*]}"
}

run_checks() {
  OUT="${OUT:-$ROOT/gpu-check-out}"
  mkdir -p "$OUT"
  local summary="$OUT/summary.txt" bin libpath data=""
  : >"$summary"
  say() { echo "$*" | tee -a "$summary"; }

  say "== qtorch GPU check, $(date -u)"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee -a "$summary"
  else
    say "no nvidia-smi: probably no GPU here (the GPU tests will skip, the benchmarks exit at once)"
  fi
  (nvcc --version 2>/dev/null | tail -2) | tee -a "$summary"

  if [ -f "$BUNDLE" ]; then
    local dir=/tmp/qtorch-gpu-bundle
    rm -rf "$dir" && mkdir -p "$dir" && tar -C "$dir" -xJf "$BUNDLE"
    bin="$dir/bin"
    libpath="$dir/lib"
    [ -d "$dir/data" ] && data="$dir/data"
    say "using the prebuilt bundle: $(head -1 "$dir/commit.txt")"
  else
    say "no bundle: building from source in build-cuda/"
    if ! cmake -S "$ROOT" -B "$ROOT/build-cuda" -DQTORCH_CUDA=ON -DQTORCH_MPI=OFF -DQTORCH_BUILD_EXAMPLES=OFF \
           >"$OUT/build.log" 2>&1 ||
       ! cmake --build "$ROOT/build-cuda" -j"$(nproc)" --target test_cuda gpu_quantize gpu_qmatmul train_bench conv_bench qtrain \
           >>"$OUT/build.log" 2>&1; then
      say "BUILD FAILED (see build.log; the GPU machines lack the Debian dependencies:"
      say "run 'scripts/gpu-check.sh bundle' on the build machine and carry build-gpu-bundle)"
      tail -30 "$OUT/build.log" | tee -a "$summary"
      return 1
    fi
    bin="$ROOT/build-cuda/bin-links"
    mkdir -p "$bin"
    ln -sf "$ROOT/build-cuda/tests/test_cuda" "$ROOT/build-cuda/bench/gpu_quantize" "$ROOT/build-cuda/bench/gpu_qmatmul" \
       "$ROOT/build-cuda/bench/train_bench" "$ROOT/build-cuda/examples/qtrain/qtrain" "$bin/"
    libpath="$ROOT/build-cuda"
    [ -f "/usr/share/datasets/fashion-mnist/${DATA_FILES[0]}" ] && data=/usr/share/datasets/fashion-mnist
  fi
  local cuda_dirs
  cuda_dirs="$(cuda_lib_dirs)"
  say "CUDA libraries from: ${cuda_dirs:-the default search path}"
  export LD_LIBRARY_PATH="$libpath${cuda_dirs:+:$cuda_dirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if ! "$bin/test_cuda" --gtest_list_tests >/dev/null 2>"$OUT/test_cuda.log"; then
    say "test_cuda does not start:"
    tail -5 "$OUT/test_cuda.log" | tee -a "$summary"
    ldd "$bin/test_cuda" | grep "not found" | tee -a "$summary"
    return 1
  fi

  local status=0
  say ""
  say "== parity suite (tests/cuda)"
  timeout 300 "$bin/test_cuda" --gtest_output="xml:$OUT/test_cuda.xml" >"$OUT/test_cuda.log" 2>&1
  local rc=$?
  [ $rc -ne 0 ] && status=1
  grep -E "tests? ran|^\[  (PASSED|SKIPPED) +\] [0-9]+ tests?|^\[  FAILED  \]" "$OUT/test_cuda.log" |
    tee -a "$summary"
  say "test_cuda exit code: $rc"
  # On a GPU machine one test skips (it checks the behaviour without a GPU). More skips while
  # nvidia-smi lists a GPU mean the CUDA runtime sees none (a driver too old for CUDA 13, say):
  # a run that measured nothing must not pass.
  local skipped gpus
  skipped=$(sed -nE 's/^\[  SKIPPED \] ([0-9]+) tests?.*/\1/p' "$OUT/test_cuda.log" | head -1)
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
  if [ "${gpus:-0}" -gt 0 ] && [ "${skipped:-0}" -gt 1 ]; then
    say "FAIL: nvidia-smi lists $gpus GPU(s) but $skipped tests skipped for want of a CUDA device; the runtime's reason:"
    "$bin/test_cuda" --gtest_filter='CudaRuntime.WithoutAGpu*' 2>&1 | grep "the error:" | tee -a "$summary"
    status=1
  fi

  if [ "${QTORCH_GPU_SANITIZER:-0}" = 1 ] && command -v compute-sanitizer >/dev/null; then
    say ""
    # tool, time limit, test filter, what it covers
    # compute-sanitizer refuses some machines ("Device not supported" on the gVisor H200s,
    # docs of the device tool, 2026-11-04; the Firecracker H100s run it): that is said as such,
    # not counted as a finding.
    sanitizer_pass() {
      say "== compute-sanitizer $1 ($4)"
      local one=/tmp/qtorch-sanitizer.log
      timeout "$2" compute-sanitizer --tool "$1" --error-exitcode 9 "$bin/test_cuda" --gtest_filter="$3" >"$one" 2>&1
      local code=$?
      cat "$one" >>"$OUT/test_cuda.log"
      if grep -q "Device not supported" "$one"; then
        say "$1: NOT RUN: compute-sanitizer does not support this machine (\"Device not supported\"); run it on an nvidia-h100-x1"
        status=1
        return
      fi
      [ $code -ne 0 ] && status=1
      say "$1 exit code: $code"
    }
    sanitizer_pass memcheck 240 'CudaElementwise.*:CudaReduce.MaxMinArgMaxAreExact:CudaSoftmax.*:CudaPool.*:CudaConv.Im2ColAndCol2ImAreExact:CudaConv.WeightGradientAtLargeBatchMatchesADoubleReference:CudaConvDirect.NaNInputsAndInfiniteWeightsGiveTheCpuBits:CudaConvDirect.TheRuleTakesSmallCnnsAndTheErrorSaysWhatItNeeds:CudaDataPath.*:CudaQuantize.FixedPointEveryRounding:CudaQuantize.BlockFloatingPointEveryLayoutAndRounding:CudaQuantize.QuantizerOpForwardAndBackward:CudaQuantize.ListInOneLaunchGivesTheBitsOfTheCpuList:CudaTrainerWaits.Block8StepsNeverWaitAndCountLikeTheCpu:CudaQuantize.LinearThenQuantizerFusedGivesTheBitsOfTheTwoModules:CudaQuantize.ElementOpsInTheQuantizePassGiveTheCpuBits:CudaMicroscaling.EveryKernelPath:CudaQmatmul.SpecialValues:CudaOptim.*' "quick subset"
    sanitizer_pass racecheck 180 'CudaQuantize.BlockFloatingPointEveryLayoutAndRounding:CudaQuantize.ListInOneLaunchGivesTheBitsOfTheCpuList:CudaQuantize.LinearThenQuantizerFusedGivesTheBitsOfTheTwoModules:CudaReduce.*:CudaSoftmax.SoftmaxAndLogSoftmax:CudaMicroscaling.EveryKernelPath:CudaMicroscaling.SpecialBlocks:CudaConvDirect.NaNInputsAndInfiniteWeightsGiveTheCpuBits:CudaConv.WeightGradientAtLargeBatchMatchesADoubleReference:CudaQuantize.FixedPointEveryRounding:CudaQmatmul.SpecialValues' "the kernels with shared memory"
  fi

  # Everything below is measurement; QTORCH_GPU_BENCH=0 stops after the parity suite (and
  # the sanitizer passes), so that a sanitizer run fits one device call of its own.
  if [ "${QTORCH_GPU_BENCH:-1}" = 1 ]; then
  say ""
  say "== bench/gpu_quantize (2^26 elements; share of a device-to-device copy)"
  timeout 240 "$bin/gpu_quantize" --benchmark_repetitions=2 --benchmark_out="$OUT/gpu_quantize.json" --benchmark_out_format=json \
    >"$OUT/gpu_quantize.log" 2>&1 || status=1
  sed -n '/share of baseline speed/,$p' "$OUT/gpu_quantize.log" | tee -a "$summary"

  say ""
  say "== bench/gpu_qmatmul ([1024, 784] x [784, 256], acc=fp16; share of cuBLAS sgemm's speed; in summary.txt only)"
  timeout 120 "$bin/gpu_qmatmul" --benchmark_repetitions=2 2>&1 | sed -n '/share of baseline speed/,$p' | tee -a "$summary" || status=1

  say ""
  say "== bench/train_bench (samples/s; block8 against fp32 of the same model, device and batch)"
  timeout 300 "$bin/train_bench" --benchmark_filter=cuda_ --benchmark_repetitions=2 --benchmark_out="$OUT/train_bench.json" --benchmark_out_format=json \
    >"$OUT/train_bench.log" 2>&1 || status=1
  grep -E "samples_per_s" "$OUT/train_bench.log" | tee -a "$summary"
  sed -n '/share of baseline speed/,$p' "$OUT/train_bench.log" | tee -a "$summary"

  say ""
  say "== bench/conv_bench on the GPU (forward and both gradients; direct kernels against im2col + GEMM; in summary.txt only)"
  timeout 150 "$bin/conv_bench" --benchmark_filter=cuda_ --benchmark_min_time=0.1 2>&1 |
    sed -n '/share of baseline speed/,$p' | tee -a "$summary" || status=1

  # Where the steps spend GPU time: the kernels by total time (nsys), for the two workloads
  # that miss their goals (LeNet fp32 at batch 1024 against libtorch; MLP block8 against fp32
  # at batch 128). In summary.txt only.
  if [ "${QTORCH_GPU_PROFILE:-1}" = 1 ] && command -v nsys >/dev/null; then
    local workload
    for workload in cuda_lenet_batch1024/baseline cuda_mlp_batch128/block8; do
      say ""
      say "== nsys: kernels of $workload by total GPU time (top 15)"
      rm -f /tmp/qtorch-profile.nsys-rep /tmp/qtorch-profile.sqlite
      timeout 120 nsys profile --force-overwrite true -o /tmp/qtorch-profile "$bin/train_bench" \
        --benchmark_filter="^$workload/" --benchmark_min_time=0.2 >/dev/null 2>&1
      timeout 60 nsys stats --report cuda_gpu_kern_sum --format csv /tmp/qtorch-profile.nsys-rep 2>/dev/null |
        grep -v '^$' | head -17 | tee -a "$summary"
      timeout 60 nsys stats --report cuda_api_sum --format csv /tmp/qtorch-profile.nsys-rep 2>/dev/null |
        grep -E 'cudaLaunchKernel|cudaMemsetAsync|cudaMemcpyAsync|cudaStreamSynchronize' | tee -a "$summary"
    done
  elif [ "${QTORCH_GPU_PROFILE:-1}" = 1 ]; then
    say ""
    say "== nsys not found: no kernel profile"
  fi

  if [ "${QTORCH_GPU_QTRAIN:-1}" = 1 ] && [ -n "$data" ] && command -v nvidia-smi >/dev/null; then
    say ""
    # Three epochs: the first also pays the process's one-time costs (kernel loading, cuBLAS
    # handles, the allocator's first blocks); epochs 2 and 3 are the steady state that the
    # goal compares with train_bench.
    say "== qtrain --device cuda, three epochs of Fashion-MNIST, batch 128 (docs/benchmarks.md workloads)"
    : >"$OUT/qtrain.log"
    local model preset
    for model in mlp lenet; do
      for preset in fp32 block8; do
        local one=/tmp/qtorch-qtrain-run.log
        timeout 150 "$bin/qtrain" --device cuda --model "$model" --preset "$preset" --epochs 3 \
          --batch-size 128 --no-progress --data-dir "$data" >"$one" 2>&1
        rc=$?
        [ $rc -ne 0 ] && status=1
        { echo "---- $model $preset (exit code $rc)"; cat "$one"; } >>"$OUT/qtrain.log"
        say "$model $preset (exit code $rc):"
        grep -E "^epoch [0-9]+/3" "$one" | while IFS= read -r line; do say "  $line"; done
      done
    done
  fi

  fi  # QTORCH_GPU_BENCH

  say ""
  say "== overall: $([ $status -eq 0 ] && echo PASS || echo FAIL)"
  return $status
}

case "${1:-run}" in
  bundle) make_bundle ;;
  run) run_checks ;;
  *) echo "usage: $0 [bundle|run]" >&2; exit 2 ;;
esac
