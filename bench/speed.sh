#!/usr/bin/env bash
# The till's speed figures: the reference path (agegate as it ran before the
# speed work, still selectable) and the fast path (the defaults), measured in
# the same run, alternating, with their ratio. Prints the machine and a table.
#
#   bench/speed.sh [BUILD_DIR] [MODEL.agm]      (defaults: build, models/agegate.agm)
#   ROUNDS=3 (alternations of each measure), SECS=10 (per wrk run), REPS=200 (in-process p50 over)
#
# In-process (build/bench/agegate_speed timings, p50 of REPS, the median over
# ROUNDS processes of each path, run ABAB):
#   reference: --path reference (NCHW estimation, detection at 640 px) under
#              OMP_WAIT_POLICY=PASSIVE and AGEGATE_MALLOC=default, as the scripts ran it
#   fast:      --path fast (channels-last, detection at 320 px), libgomp's default
#              wait policy, the malloc thresholds of core/allocator.h
# Service (bench/serve_load.sh: a 640x480 JPEG frame with one face, wrk on loopback):
#   reference: REFERENCE=1 (serve --reference-path: Nagle on, one shared detector,
#              the reference pipeline, one tensor thread per estimation, PASSIVE, malloc defaults)
#   fast:      agegate serve with its defaults
# The accuracy side: build/bench/agegate_speed accuracy (see bench/speed_bench.cpp).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}; model=${2:-models/agegate.agm}
rounds=${ROUNDS:-3}; secs=${SECS:-10}; reps=${REPS:-200}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}'; }

for r in $(seq "$rounds"); do
  for t in 2 1; do
    echo "round $r/$rounds, $t thread(s): reference, then fast" >&2
    OMP_WAIT_POLICY=PASSIVE AGEGATE_MALLOC=default "$build/bench/agegate_speed" timings --path reference \
      --threads "$t" --reps "$reps" >>"$work/reference.$t"
    env -u OMP_WAIT_POLICY "$build/bench/agegate_speed" timings --path fast --threads "$t" --reps "$reps" >>"$work/fast.$t"
  done
done
get() { awk -v k="$2" '$1==k {print $2}' "$work/$1" | median; }

for r in $(seq "$rounds"); do
  for path in reference fast; do
    echo "round $r/$rounds, service: $path" >&2
    REFERENCE=$([ $path = reference ] && echo 1 || echo 0) CONCURRENCY="1 4" \
      "$here/serve_load.sh" "$build" "$model" "$secs" >"$work/serve.$path.$r" 2>&1
  done
done
serve_p50() { for f in "$work"/serve.$1.*; do awk '$1=="1" {print $4}' "$f" | to_ms; done | median; }
serve_ok() { for f in "$work"/serve.$1.*; do awk -v c="$2" '$1==c {print $3}' "$f"; done | median; }
serve_mem() { for f in "$work"/serve.$1.*; do awk '/server memory/ {print $(NF-1)/1024}' "$f"; done | median; }

echo
echo "machine: $(nproc) cores, $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr); model $(basename "$model")"
echo "medians over $rounds alternating rounds; in-process figures are p50 of $reps runs each"
printf "%-52s %12s %12s %8s  %s\n" measure reference fast ratio target
row() { awk -v n="$1" -v a="$2" -v b="$3" -v u="$4" -v t="$5" -v hi="$6" \
  'BEGIN {r = hi ? b / a : a / b; printf "%-52s %9.2f %-2s %9.2f %-2s %7.2fx  %s\n", n, a, u, b, u, r, t}'; }
row "estimate one face crop, batch 1, 2 threads, p50" "$(get reference.2 estimate_ms)" "$(get fast.2 estimate_ms)" ms "<= 8 ms" 0
row "estimate one face crop, batch 1, 1 thread, p50" "$(get reference.1 estimate_ms)" "$(get fast.1 estimate_ms)" ms "" 0
row "detect faces in a 640x480 frame, 2 threads, p50" "$(get reference.2 detect_ms)" "$(get fast.2 detect_ms)" ms "<= 6 ms" 0
row "detect faces in a 640x480 frame, 1 thread, p50" "$(get reference.1 detect_ms)" "$(get fast.1 detect_ms)" ms "" 0
row "one 640x480 JPEG frame in-process, 2 threads, p50" "$(get reference.2 frame_ms)" "$(get fast.2 frame_ms)" ms "" 0
row "one 640x480 frame through serve, c=1, p50" "$(serve_p50 reference)" "$(serve_p50 fast)" ms "<= 20 ms" 0
row "frames/s through serve, c=4" "$(serve_ok reference 4)" "$(serve_ok fast 4)" "/s" ">= 80" 1
row "frames/s through serve, c=1" "$(serve_ok reference 1)" "$(serve_ok fast 1)" "/s" "" 1
row "server memory after the load (RSS)" "$(serve_mem reference)" "$(serve_mem fast)" MB "" 1
