#!/usr/bin/env bash
# Configures and builds the sanitizer build in build-asan/: clang with
# AddressSanitizer + UndefinedBehaviorSanitizer, libFuzzer coverage, the fuzz
# targets in fuzz/. The test suite and the fuzzers both run from it.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${AGEGATE_BUILD_JOBS:-$(nproc)}
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DAGEGATE_SANITIZE=address,undefined -DAGEGATE_BUILD_FUZZ=ON -DAGEGATE_BUILD_BENCH=OFF >/dev/null
ninja -C build-asan -j "$jobs"
