#!/usr/bin/env bash
# Builds the whole test suite with AddressSanitizer, UndefinedBehaviorSanitizer (no recovery:
# the first finding fails the test) and LeakSanitizer in its own build folder, and runs it.
# CUDA is off in this build (the sanitizers instrument host code). Tests labelled
# normal_build_only run only in the normal build: the install test builds an uninstrumented
# consumer against the instrumented library, and train_mlp's full epoch is slow here.
# Usage: scripts/sanitize.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${QTORCH_SANITIZE_BUILD_DIR:-build-sanitize}
# -g1: line tables and function names, all a report's stack trace reads (a third less compile
# time than -g).
flags="-O1 -g1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cmake -S . -B "$build" -DQTORCH_MPI=OFF -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS_SANITIZE="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS_SANITIZE="-fsanitize=address,undefined" \
  -DQTORCH_CUDA=OFF -DQTORCH_BUILD_BENCHMARKS=OFF -DQTORCH_NATIVE=ON -DBUILD_TESTING=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
# allocator_may_return_null: the tests of huge allocations expect a qtorch::Error, not an abort.
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:abort_on_error=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" -LE normal_build_only "$@"
