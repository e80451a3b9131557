#!/usr/bin/env bash
# ThreadSanitizer check of the thread-safety promise (README, "Threads"): builds the library
# and the train test suite with -fsanitize=thread in build-tsan/ and runs the user-thread
# tests. OpenMP runs one thread here (OMP_NUM_THREADS=1): Debian's libgomp is not built
# with TSan, and its own synchronisation would be reported falsely.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${QTORCH_TSAN_BUILD_DIR:-build-tsan}
flags="-O1 -g -fsanitize=thread -fno-omit-frame-pointer"
cmake -S . -B "$build" -DQTORCH_MPI=OFF -DCMAKE_BUILD_TYPE=Tsan -DCMAKE_CXX_FLAGS_TSAN="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS_TSAN=-fsanitize=thread -DCMAKE_SHARED_LINKER_FLAGS_TSAN=-fsanitize=thread \
  -DQTORCH_CUDA=OFF -DQTORCH_BUILD_BENCHMARKS=OFF -DQTORCH_BUILD_EXAMPLES=OFF -DBUILD_TESTING=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target test_train
OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  "$build/tests/test_train" --gtest_filter='UserThreads.*'
