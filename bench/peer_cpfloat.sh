#!/usr/bin/env bash
# qtorch's CPU quantizers beside CPFloat (the fastest CPU rounding library the project knows,
# docs/benchmarks.md) on the same workload: e5m2 (IEEE range, subnormals, overflow to inf)
# on 2^24 standard normal float32, ties away, ties to even and stochastic rounding; "alloc"
# with a fresh output per call, "into" with a preallocated one. CPFloat runs through
# bench/peer_cpfloat.c, compiled here against a CPFloat checkout; qtorch through
# build/bench/quant_bench. The two run alternately, T threads each, R rounds; each figure is
# the fastest over the rounds, in milliseconds, with each side's own baseline (a
# single-threaded allocate + memcpy for alloc, a copy into the preallocated output for into).
# CPFloat is no dependency of qtorch: without a checkout the script says so and exits 0.
# Usage: bench/peer_cpfloat.sh CPFLOAT_DIR [BUILD_DIR]   (env: ROUNDS=3 THREADS=2)
set -euo pipefail
cpfloat=${1:-}
build=${2:-build}
rounds=${ROUNDS:-3}
threads=${THREADS:-2}
here=$(cd "$(dirname "$0")" && pwd)
if [[ -z $cpfloat || ! -f $cpfloat/src/cpfloat_binary32.h ]]; then
  echo "peer_cpfloat.sh: no CPFloat checkout given (git clone https://github.com/north-numerical-computing/cpfloat): skipped"
  exit 0
fi
bench=$build/bench/quant_bench
if [[ ! -x $bench ]]; then
  echo "peer_cpfloat.sh: no quant_bench at $bench: build it first (cmake --build $build --target quant_bench)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -std=c11 -D_GNU_SOURCE -O3 -march=native -fopenmp -Wno-cpp -I"$cpfloat/src" "$here/peer_cpfloat.c" \
  -o "$tmp/peer_cpfloat" -lm 2> "$tmp/cc.log" || { cat "$tmp/cc.log" >&2; exit 1; }
export OMP_NUM_THREADS=$threads
echo "peer_cpfloat.sh: CPFloat $(git -C "$cpfloat" rev-parse --short HEAD 2>/dev/null || echo '(no git)'), $bench;" \
  "$threads threads, $rounds rounds, alternating; load: $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$tmp/cpfloat.txt"
: > "$tmp/qtorch.txt"
for ((r = 1; r <= rounds; ++r)); do
  "$tmp/peer_cpfloat" 3 >> "$tmp/cpfloat.txt"
  "$bench" --benchmark_filter='^(alloc|into)/(baseline|memcpy_1thread|e5m2_.*)$' --benchmark_repetitions=3 \
    --benchmark_color=false 2>/dev/null |
    awk '/^group/ { table = 1; next } table && ($1 == "alloc" || $1 == "into") { print $1, $2, $3 }' >> "$tmp/qtorch.txt"
done
best() { awk -v g="$2" -v v="$3" '$1 == g && $2 == v { if (b == "" || $3 < b) b = $3 } END { print (b == "" ? "-" : b) }' "$1"; }
printf '\n%-6s %-20s %12s %12s %16s\n' group variant "CPFloat ms" "qtorch ms" "qtorch/CPFloat"
for group in alloc into; do
  if [[ $group == alloc ]]; then bases=("memcpy_1thread memcpy_1thread"); else bases=("memcpy baseline"); fi
  for pair in "${bases[@]}" "e5m2_nearest_away e5m2_nearest_away" "e5m2_nearest_even e5m2_nearest_even" \
    "e5m2_stochastic e5m2_stochastic"; do
    read -r theirs ours <<< "$pair"
    c=$(best "$tmp/cpfloat.txt" "$group" "$theirs")
    q=$(best "$tmp/qtorch.txt" "$group" "$ours")
    label=$ours
    [[ $ours == baseline ]] && label="copy (baseline)"
    [[ $ours == memcpy_1thread ]] && label="memcpy 1 thread"
    awk -v g="$group" -v l="$label" -v c="$c" -v q="$q" \
      'BEGIN { printf "%-6s %-20s %12s %12s %16s\n", g, l, c, q, (c + 0 > 0 && q + 0 > 0) ? sprintf("%.2f", q / c) : "-" }'
  done
done
