#!/usr/bin/env bash
# Installs dependencies, builds qtorch and runs the main job.
# Usage: scripts/run.sh [arguments for the main program]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${QTORCH_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
if [ -f examples/qtrain/CMakeLists.txt ]; then
  cmake --build "$build" -j"$(nproc)" --target qtrain
  exec "$build/examples/qtrain/qtrain" "$@"
else
  cmake --build "$build" -j"$(nproc)" --target spirals
  exec "$build/examples/spirals/spirals" "$@"
fi
