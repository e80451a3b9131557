#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz (one per parser of outside input), built with
# clang, AddressSanitizer and UndefinedBehaviorSanitizer in their own folder (build-fuzz).
# Each target starts from a copy of its committed seed corpus (tests/fuzz/corpus/NAME,
# copied into build-fuzz/fuzz/corpus/NAME, where what it finds accumulates across runs)
# and runs in a scratch folder. A crash, hang (-timeout), out-of-memory or huge allocation
# (-rss_limit_mb, which also limits a single malloc), leak or sanitizer report fails the
# run and leaves the input in build-fuzz/fuzz/artifacts/NAME/; reproduce it with
#   build-fuzz/tests/fuzz/NAME_fuzz FILE
# Usage: scripts/fuzz.sh TARGET SECONDS      (TARGET: number recipe idx checkpoint metrics cli)
#        scripts/fuzz.sh --all SECONDS       (every target, one per core at a time)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
targets=(number recipe idx checkpoint metrics cli)
usage() {
  echo "usage: scripts/fuzz.sh TARGET SECONDS | --all SECONDS (TARGET: ${targets[*]})" >&2
  exit 2
}
[ $# -eq 2 ] || usage
[[ "$2" =~ ^[0-9]+$ ]] || usage
seconds=$2
if [ "$1" = "--all" ]; then
  run=("${targets[@]}")
else
  [[ " ${targets[*]} " == *" $1 "* ]] || usage
  run=("$1")
fi

bash scripts/install-deps.sh
build=${QTORCH_FUZZ_BUILD_DIR:-build-fuzz}
# One absolute folder from here on ($root/$build broke an absolute QTORCH_FUZZ_BUILD_DIR).
build=$(realpath -m "$build")
# -gline-tables-only: all a report's stack trace reads.
flags="-O1 -gline-tables-only -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DQTORCH_MPI=OFF -DCMAKE_BUILD_TYPE=Fuzz -DCMAKE_CXX_FLAGS_FUZZ="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS_FUZZ="-fsanitize=address,undefined" \
    -DCMAKE_SHARED_LINKER_FLAGS_FUZZ="-fsanitize=address,undefined" \
    -DQTORCH_CUDA=OFF -DBUILD_TESTING=OFF -DQTORCH_BUILD_BENCHMARKS=OFF -DQTORCH_BUILD_EXAMPLES=ON \
    -DQTORCH_BUILD_FUZZERS=ON >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target "${run[@]/%/_fuzz}"

export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

# Longest input per target: a few times the longest valid one.
max_len() {
  case $1 in
    number) echo 256 ;;
    recipe | cli) echo 4096 ;;
    *) echo 16384 ;;
  esac
}

# Runs one target; its exit status goes to $work/NAME.rc.
fuzz_one() {
  local name=$1 work=$build/fuzz
  local corpus=$work/corpus/$name artifacts=$work/artifacts/$name/ scratch=$work/scratch/$name
  rm -rf "$artifacts"
  mkdir -p "$corpus" "$artifacts" "$scratch"
  cp -n "$root/tests/fuzz/corpus/$name"/* "$corpus"/
  local extra=()
  # qtrain prints its help and error lines; keep libFuzzer's own output readable.
  [ "$name" = cli ] && extra+=(-close_fd_mask=3)
  local rc=0
  (cd "$scratch" && "$build/tests/fuzz/${name}_fuzz" "$corpus" \
     -max_total_time="$seconds" -max_len="$(max_len "$name")" -rss_limit_mb=2048 -timeout=10 \
     -artifact_prefix="$artifacts" -print_final_stats=1 "${extra[@]}") >"$work/$name.log" 2>&1 || rc=$?
  echo "$rc" >"$work/$name.rc"
}

# One target per core at a time (libFuzzer runs on one thread), each for SECONDS.
work=$build/fuzz
mkdir -p "$work"
jobs_at_once=$(nproc)
pending=()
for name in "${run[@]}"; do
  echo "fuzz.sh: $name for ${seconds}s (log: $work/$name.log)" >&2
  rm -f "$work/$name.rc"
  fuzz_one "$name" &
  pending+=($!)
  if [ ${#pending[@]} -ge "$jobs_at_once" ]; then
    wait "${pending[@]}"
    pending=()
  fi
done
wait
failed=()
for name in "${run[@]}"; do
  rc=$(cat "$work/$name.rc" 2>/dev/null || echo missing)
  if [ "$rc" != 0 ] || compgen -G "$work/artifacts/$name/*" >/dev/null; then
    failed+=("$name")
    echo "fuzz.sh: $name: exit status $rc" >&2
    tail -n 60 "$work/$name.log" >&2
  else
    echo "fuzz.sh: $name:" >&2
    grep -E '^#[0-9]+[[:space:]]+DONE|number_of_executed_units' "$work/$name.log" >&2 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings in: ${failed[*]} (inputs under $build/fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: no findings in ${run[*]}" >&2
