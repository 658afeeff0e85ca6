#!/usr/bin/env bash
# The test suite: install (with Chromium and wrk for the report and service
# tests, PostgreSQL for the storage tests), build, run every CTest test inside
# a throwaway PostgreSQL cluster (scripts/with-postgres.sh; without one, the
# PostgreSQL tests report skipped). Needs ../shared (or AGEGATE_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --with-test-tools
scripts/build.sh
export OMP_WAIT_POLICY=PASSIVE
# The `unit` label promises no ../shared: prove it with a shared folder that is not there.
AGEGATE_SHARED_DIR=/nonexistent/agegate-shared scripts/with-postgres.sh \
  ctest --test-dir build --output-on-failure -j 2 -L unit
scripts/with-postgres.sh ctest --test-dir build --output-on-failure -j 2 --timeout 900
