#!/usr/bin/env bash
# qrepro under mpiexec on 2 processes (ctest qrepro_mpi_2_ranks): the parts are spread over
# the ranks and rank 0 prints the same report as one process does (the wall-clock seconds
# and the MPI banner aside), with the same exit status.
# Usage: qrepro_mpi_test.sh QREPRO MPIEXEC [PARTS]
set -euo pipefail
qrepro=$1
mpiexec=$2
parts=${3:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
normalise() { grep -v '^qrepro: [0-9]* parts over' "$1" | sed -E 's/\(([0-9]+) s\)/(N s)/'; }
one=0; "$qrepro" "$parts" --quick -q --threads 1 > "$tmp/one.txt" || one=$?
two=0; "$mpiexec" -n 2 --oversubscribe "$qrepro" "$parts" --quick -q --threads 1 > "$tmp/two.txt" || two=$?
cat "$tmp/two.txt"
grep -q "parts over 2 processes" "$tmp/two.txt" || { echo "FAIL: no MPI banner"; exit 1; }
[ "$one" -eq "$two" ] || { echo "FAIL: exit status $two over 2 processes, $one in one"; exit 1; }
diff <(normalise "$tmp/one.txt") <(normalise "$tmp/two.txt") || { echo "FAIL: the reports differ"; exit 1; }
echo "qrepro $parts --quick: the same report in one process and over 2 (exit status $one)"
