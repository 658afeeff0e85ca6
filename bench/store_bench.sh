#!/usr/bin/env bash
# Runs the checkout database benchmark on a fresh SQLite file and on a
# throwaway PostgreSQL cluster (scripts/with-postgres.sh).
# Usage: bench/store_bench.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
cd "$(dirname "$0")/.."
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
scripts/with-postgres.sh bash -c '
  urls=("sqlite:'"$work"'/bench.db")
  [ -n "${AGEGATE_TEST_PG_URL:-}" ] && urls+=("$AGEGATE_TEST_PG_URL")
  "'"$build"'/bench/agegate_store_bench" "${urls[@]}"'
