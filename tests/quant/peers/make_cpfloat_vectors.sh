#!/usr/bin/env bash
# Writes tests/quant/peers/cpfloat_vectors.bin with CPFloat (make_cpfloat_vectors.c says what
# it holds). CPFLOAT_DIR is a checkout (or snapshot) of
# https://github.com/north-numerical-computing/cpfloat; its header-only src/ is all it uses.
set -euo pipefail
if [[ $# -ne 1 || ! -f "$1/src/cpfloat_binary32.h" ]]; then
  echo "usage: $0 CPFLOAT_DIR (a CPFloat checkout with src/cpfloat_binary32.h)" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
gcc -std=c11 -O2 -fopenmp -Wno-cpp -I"$1/src" "$here/make_cpfloat_vectors.c" -o "$work/make_cpfloat_vectors" -lm
"$work/make_cpfloat_vectors" "$work/cpfloat_vectors.bin"
mv "$work/cpfloat_vectors.bin" "$here/cpfloat_vectors.bin"
echo "wrote $here/cpfloat_vectors.bin ($(stat -c %s "$here/cpfloat_vectors.bin") bytes, CPFloat $(git -C "$1" rev-parse HEAD 2>/dev/null || echo unknown))"
