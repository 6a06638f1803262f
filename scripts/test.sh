#!/usr/bin/env bash
# Builds tiermem and runs every test: unit (GoogleTest) and integration
# (real programs under the preload). Installs the Debian packages it needs.
#   scripts/test.sh            # Release-with-debug-info build in build/
#   BUILD_DIR=/tmp/b scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
bash scripts/install-deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
cd "$BUILD_DIR"
ctest --output-on-failure -j2 "$@"
