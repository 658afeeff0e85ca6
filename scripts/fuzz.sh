#!/usr/bin/env bash
# Runs one libFuzzer target for SECONDS: scripts/fuzz.sh TARGET SECONDS
# TARGET: image | labels | model_file | policy | estimate (fuzz/fuzz_TARGET.cpp), or "all".
# Builds build-asan/ (scripts/sanitize-build.sh) unless AGEGATE_FUZZ_NO_BUILD=1, makes the
# seed corpus once (fuzz_make_corpus), keeps what the fuzzer finds in build-asan/fuzz-corpus/
# and writes any crash to build-asan/fuzz-findings/. Prints executions and findings; exits 1 on a finding.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS}
if [ "$target" = all ]; then
  status=0
  for t in image labels model_file policy estimate; do AGEGATE_FUZZ_NO_BUILD=1 "$0" "$t" "$seconds" || status=1; done
  exit $status
fi
[ "${AGEGATE_FUZZ_NO_BUILD:-0}" = 1 ] || scripts/sanitize-build.sh
bin=build-asan/fuzz/fuzz_$target
[ -x "$bin" ] || { echo "fuzz.sh: no target $bin" >&2; exit 2; }
corpus=build-asan/fuzz-corpus
[ -d "$corpus/$target" ] || build-asan/fuzz/fuzz_make_corpus "$corpus" >/dev/null
findings=build-asan/fuzz-findings/$target
mkdir -p "$findings" "$corpus/$target"
log=build-asan/fuzz-$target.log
# Model files are megabytes; everything else stays small.
max_len=$([ "$target" = model_file ] && echo 16000000 || echo 2000000)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export OMP_NUM_THREADS=1
# Inputs that once crashed a target run first, every time (fuzz/regressions/TARGET/).
regressions=()
[ -d "fuzz/regressions/$target" ] && regressions=("fuzz/regressions/$target")
set +e
"$bin" -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 \
  -artifact_prefix="$findings/" "$corpus/$target" "${regressions[@]}" >"$log" 2>&1
rc=$?
set -e
execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 || true)
found=$(ls "$findings" | wc -l)
echo "fuzz $target: ${execs} executions in ${seconds}s, ${cov:-cov: ?}, findings: ${found} (exit $rc; log $log)"
if [ "$rc" != 0 ] || [ "$found" != 0 ]; then
  tail -40 "$log" >&2
  exit 1
fi
