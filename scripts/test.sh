#!/usr/bin/env bash
# Installs dependencies, builds qtorch with its tests and runs the whole suite with ctest.
# Usage: scripts/test.sh [extra cmake arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# Sleeping OpenMP workers: spinning ones stall every parallel region when the cores are shared.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
build=${QTORCH_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON "$@"
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
