#!/usr/bin/env bash
# The test suite: install (with Chromium and wrk for the report and service
# tests), build, run every CTest test. Needs ../shared (or AGEGATE_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --with-test-tools
scripts/build.sh
export OMP_WAIT_POLICY=PASSIVE
ctest --test-dir build --output-on-failure -j 2 --timeout 900
