#!/usr/bin/env bash
# Installs every Debian package tiermem needs to build, test and benchmark.
# Idempotent: packages already present are left alone.
set -euo pipefail
pkgs=(
  build-essential cmake pkg-config ninja-build
  libjemalloc-dev libnuma-dev libhwloc-dev numactl hwloc
  libtomlplusplus-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libmimalloc-dev libgoogle-perftools-dev
  clang libclang-rt-14-dev
  python3 python3-numpy python3-pandas sqlite3
  default-jdk-headless
  python3-pytest python3-hypothesis redis-server redis-tools git perl tcl
  qemu-system-x86 busybox-static cpio   # tests/vm: the NUMA VM (docs/testing-numa.md)
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
