#!/usr/bin/env bash
# Configures and builds agegate into build/ (Release with debug info).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${AGEGATE_BUILD_JOBS:-$(nproc)}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${AGEGATE_CMAKE_ARGS:-} >/dev/null
ninja -C build -j "$jobs"
