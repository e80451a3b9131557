#!/usr/bin/env bash
# qtorch against PyTorch on the CPU, side by side: qtrain (fp32 and block8) and the same workloads
# in PyTorch (bench/peer_pytorch.py: MLP 784-256-256-10 and LeNet-5, SGD lr 0.05 momentum 0.9,
# batch 128, Fashion-MNIST), run alternately, T threads each, the fastest of E epochs per run, R
# rounds. Prints seconds per epoch and the ratios qtorch / PyTorch: per round (the two ran
# seconds apart), then the fastest epochs over all rounds and the median of the rounds' ratios
# (the steadier figure where other processes load the machine unevenly). PyTorch is no dependency of
# qtorch: without an importable torch the script says so and exits 0.
# Both sides run under the same OpenMP wait policy: qtrain's own (GOMP_SPINCOUNT=3000) unless
# GOMP_SPINCOUNT or OMP_WAIT_POLICY is set, and then that one.
# Usage: bench/peer_pytorch.sh [BUILD_DIR]   (env: EPOCHS=2 ROUNDS=2 THREADS=2 MODELS="mlp lenet"
#        PRESETS="fp32 block8" PYTHON=python3 DATA_DIR=/usr/share/datasets/fashion-mnist)
set -euo pipefail

build=${1:-build}
qtrain=$build/examples/qtrain/qtrain
epochs=${EPOCHS:-2}
rounds=${ROUNDS:-2}
threads=${THREADS:-2}
models=${MODELS:-"mlp lenet"}
presets=${PRESETS:-"fp32 block8"}
data_dir=${DATA_DIR:-/usr/share/datasets/fashion-mnist}
here=$(cd "$(dirname "$0")" && pwd)

# Debian's python3-torch installs into the system python; a PATH python (pyenv, venv) may lack it.
python=${PYTHON:-}
if [[ -z $python ]]; then
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then python=$p; break; fi
  done
fi
if [[ -z $python ]] || ! "$python" -c 'import torch' 2>/dev/null; then
  echo "peer_pytorch.sh: PyTorch is not installed (Debian: apt-get install python3-torch): skipped"
  exit 0
fi
if [[ ! -x $qtrain ]]; then
  echo "peer_pytorch.sh: no qtrain at $qtrain: build it first (cmake --build $build --target qtrain)" >&2
  exit 1
fi
if [[ -z ${GOMP_SPINCOUNT:-} && -z ${OMP_WAIT_POLICY:-} ]]; then export GOMP_SPINCOUNT=3000; fi
export OMP_NUM_THREADS=$threads

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# fastest epoch (seconds) of one qtrain run
run_qtrain() {  # model preset
  "$qtrain" --model "$1" --preset "$2" --epochs "$epochs" --threads "$threads" --data-dir "$data_dir" \
    --limit-test 1000 --no-progress --metrics "$tmp/m.json" >/dev/null
  "$python" -c 'import json,sys; print(min(e["seconds"] for e in json.load(open(sys.argv[1]))["epochs"] if e.get("seconds")))' "$tmp/m.json"
}
# fastest epoch (seconds) of one PyTorch run
run_torch() {  # model
  "$python" "$here/peer_pytorch.py" --model "$1" --epochs "$epochs" --threads "$threads" --data-dir "$data_dir" |
    awk '$1 == "epoch" { if (best == "" || $4 < best) best = $4 } END { print best }'
}

echo "peer_pytorch.sh: $($python -c 'import torch; print("PyTorch", torch.__version__)'), qtrain $qtrain;" \
  "$threads threads, fastest of $epochs epochs, $rounds rounds, alternating;" \
  "GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-unset} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}; load: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A best ratios
keep_min() {  # key value
  if [[ -z ${best[$1]:-} ]] || awk -v a="$2" -v b="${best[$1]}" 'BEGIN { exit !(a < b) }'; then best[$1]=$2; fi
}
for ((r = 1; r <= rounds; ++r)); do
  for m in $models; do
    t=$(run_torch "$m")
    keep_min "$m/torch" "$t"
    line="round $r $m: pytorch $t s"
    for p in $presets; do
      q=$(run_qtrain "$m" "$p")
      keep_min "$m/$p" "$q"
      ratio=$(awk -v a="$q" -v b="$t" 'BEGIN { printf "%.3f", a / b }')
      ratios[$m/$p]+="$ratio "
      line+=", qtorch $p $q s (ratio $ratio)"
    done
    echo "$line"
  done
done

echo
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '| workload | PyTorch fp32 s/epoch |'
for p in $presets; do printf ' qtorch %s s/epoch |' "$p"; done
for p in $presets; do printf ' qtorch %s / PyTorch (fastest; median of rounds) |' "$p"; done
echo
printf '| --- | --- |'
for p in $presets; do printf ' --- | --- |'; done
echo
for m in $models; do
  printf '| %s | %.2f |' "$m" "${best[$m/torch]}"
  for p in $presets; do printf ' %.2f |' "${best[$m/$p]}"; done
  for p in $presets; do
    printf ' %.2f; %.2f |' "$(awk -v a="${best[$m/$p]}" -v b="${best[$m/torch]}" 'BEGIN { print a / b }')" \
      "$(echo "${ratios[$m/$p]}" | median)"
  done
  echo
done
echo "(fastest epoch over all rounds; machine load after the runs: $(cut -d' ' -f1-3 /proc/loadavg))"
