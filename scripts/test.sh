#!/usr/bin/env bash
# The test suite: install (with Chromium and wrk for the report and service
# tests, PostgreSQL for the storage tests, clang for the sanitizer build),
# build, run every CTest test inside a throwaway PostgreSQL cluster
# (scripts/with-postgres.sh; without one, the PostgreSQL tests report
# skipped). Then the sanitizer stage: the suite again under AddressSanitizer +
# UndefinedBehaviorSanitizer (build-asan/, clang) and every fuzz target for a
# short run. Needs ../shared (or AGEGATE_SHARED_DIR).
#   AGEGATE_SKIP_SANITIZERS=1   skips the sanitizer stage (the quick loop)
#   AGEGATE_FUZZ_SECONDS=N      seconds per fuzz target (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --with-test-tools
scripts/build.sh
export OMP_WAIT_POLICY=PASSIVE
# Tests that cannot run here (no PostgreSQL cluster, no Chromium, not root)
# fail under CI=true (.ci/run sets it) and are skipped locally, each reason
# logged here and counted at the end.
export AGEGATE_SKIP_LOG=$PWD/build/Testing/skipped.txt
mkdir -p build/Testing; : >"$AGEGATE_SKIP_LOG"
summarise_skips() {
  if [ -s "$AGEGATE_SKIP_LOG" ]; then
    echo "skipped: $(sort "$AGEGATE_SKIP_LOG" | uniq -c | sort -rn | awk '{n=$1; $1=""; printf "%s%d x%s", sep, n, $0; sep="; "}')"
  else
    echo "skipped: none"
  fi
}
trap summarise_skips EXIT
# The `unit` label promises no ../shared: prove it with a shared folder that is not there.
AGEGATE_SHARED_DIR=/nonexistent/agegate-shared scripts/with-postgres.sh \
  ctest --test-dir build --output-on-failure -j 2 -L unit
scripts/with-postgres.sh ctest --test-dir build --output-on-failure -j 2 --timeout 900
[ "${AGEGATE_SKIP_SANITIZERS:-0}" = 1 ] && exit 0

start=$(date +%s)
scripts/sanitize-build.sh
built=$(date +%s)
# Third-party leaks at exit (libtorch, OpenCV, fontconfig) are not ours: scripts/lsan.supp.
export ASAN_OPTIONS=detect_leaks=1:detect_odr_violation=0:abort_on_error=0
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
scripts/with-postgres.sh ctest --test-dir build-asan --output-on-failure -j 2 --timeout 1800 \
  -E "${AGEGATE_ASAN_EXCLUDE:-^$}"
tested=$(date +%s)
AGEGATE_FUZZ_NO_BUILD=1 scripts/fuzz.sh all "${AGEGATE_FUZZ_SECONDS:-30}"
echo "sanitizer stage: build $((built - start)) s, tests under ASan+UBSan $((tested - built)) s, fuzzing $(($(date +%s) - tested)) s"
