#!/usr/bin/env bash
# Installs every Debian package qtorch needs to build, test and run its examples.
# Idempotent: quiet and quick when everything is already present.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libxtensor-dev libxtensor-blas-dev libxsimd-dev libopenblas-openmp-dev
  libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  zlib1g-dev libcli11-dev nlohmann-json3-dev gnuplot-nox dataset-fashion-mnist
  # data-parallel training (dist/, -DQTORCH_MPI): Open MPI and its mpirun
  libopenmpi-dev openmpi-bin
  # scripts/fuzz.sh: clang, its libFuzzer/sanitizer runtimes and its OpenMP
  clang libclang-rt-14-dev libomp-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
