#!/usr/bin/env bash
# Runs every full paper reproduction of examples/papers (qrepro) one after another and keeps
# each part's table (.txt), results (.json) and plot (.png). Exits non-zero when any effect
# fails to show. About 11 minutes on 2 CPU cores (275 s for parts 1a-6 in the last run, part 3b's 5 seeds 80 s of
# it; part 7 about 105 s; part 8 about 250 s; one thread per part).
# Usage: scripts/reproduce-papers.sh [extra qrepro options, e.g. --quick or --seeds 3]
# Environment: QTORCH_BUILD_DIR (default build), PAPERS_OUT (default papers-out).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${QTORCH_BUILD_DIR:-build}
out=${PAPERS_OUT:-papers-out}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target qrepro
command -v gnuplot >/dev/null || echo "warning: gnuplot is not installed (Debian package gnuplot-nox): no plots" >&2
mkdir -p "$out"
failed=()
start=$SECONDS
for part in 1a 1b 2 3a 3b 4 5a 5b 6 7a 7b 8a 8b 8c; do
  t0=$SECONDS
  if "$build/examples/papers/qrepro" "$part" --json "$out/$part.json" --plot "$out/$part.png" "$@" \
      > "$out/$part.txt"; then
    result=PASS
  else
    result=FAIL
    failed+=("$part")
  fi
  cat "$out/$part.txt"
  echo "--- part $part: $result in $((SECONDS - t0)) s (total $((SECONDS - start)) s)"
done
echo
if [ ${#failed[@]} -eq 0 ]; then
  echo "reproduce-papers: every effect showed in $((SECONDS - start)) s; results in $out/"
else
  echo "reproduce-papers: FAILED parts: ${failed[*]} ($((SECONDS - start)) s); results in $out/"
  exit 1
fi
