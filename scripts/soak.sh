#!/usr/bin/env bash
# Soak: trains 50 short epochs (LeNet, block8, --limit-train 2048) with a checkpoint and a
# metrics file written after every epoch, samples the process's resident memory and open file
# descriptors every 50 ms, and reports the largest resident memory after epoch 5 against the
# resident memory at epoch 5 (allowed: +5%), and the fewest descriptors open during epoch 1
# against those during the last epoch (allowed: no growth; a write in flight holds one or two
# more for a moment).
# Usage: scripts/soak.sh [extra qtrain arguments]   (builds qtrain first)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${QTORCH_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target qtrain >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/examples/qtrain/qtrain" --epochs 50 --limit-train 2048 --limit-test 1000 --no-progress \
  --checkpoint "$work/soak.ckpt" --metrics "$work/soak.json" "$@" > "$work/out.txt" &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  epoch=$(grep -c '^epoch ' "$work/out.txt" || true)
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l || true)
  [ -n "$rss" ] && echo "$epoch $rss $fds" >> "$work/samples.txt"
  sleep 0.05
done
wait "$pid"
tail -1 "$work/out.txt"
awk '
  $1 == 5 { at5 = $2 }
  $1 >= 5 && $2 > peak { peak = $2 }
  $1 >= 1 { if (!($1 in fd_min) || $3 < fd_min[$1]) fd_min[$1] = $3; if ($3 > max_fd) max_fd = $3; last = $1 }
  END {
    growth = (peak - at5) / at5 * 100
    printf "resident memory: %.1f MB at epoch 5, at most %.1f MB from epoch 5 to 50 (%+.2f%%)\n", at5 / 1024, peak / 1024, growth
    printf "open file descriptors: %d during epoch 1, %d during epoch %d (at most %d while a file was written)\n", fd_min[1], fd_min[last], last, max_fd
    ok = growth <= 5 && fd_min[last] <= fd_min[1]
    print (ok ? "soak: PASS" : "soak: FAIL")
    exit ok ? 0 : 1
  }' "$work/samples.txt"
