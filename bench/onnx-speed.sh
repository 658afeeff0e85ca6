#!/usr/bin/env bash
# Per-face latency at batch 1 of the exported ONNX model under OpenCV DNN
# and ONNX Runtime, beside LibTorch as predict/serve run it: same model,
# same 8 prepared photos, same run, alternating, with ratios against LibTorch.
#
#   bench/onnx-speed.sh [BUILD_DIR] [MODEL.agm]   (defaults: build, models/agegate.agm)
#   ROUNDS=3 (alternations), REPS=200 (p50 over), THREADS=2
#
# ONNX Runtime is timed when tools/onnx-runtime/node_modules is installed
# (cd tools/onnx-runtime && npm ci --ignore-scripts); the row says so otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/.." && pwd)
build=${1:-build}; model=${2:-models/agegate.agm}
rounds=${ROUNDS:-3}; reps=${REPS:-200}; threads=${THREADS:-2}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
ort_dir="$root/tools/onnx-runtime"
have_ort=0; [ -d "$ort_dir/node_modules/onnxruntime-node" ] && have_ort=1
"$build/bench/agegate_onnx_bench" inputs --model "$model" --out "$work/job" >/dev/null

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
for r in $(seq "$rounds"); do
  for flip in off on; do
    echo "round $r/$rounds, flip averaging $flip: LibTorch and OpenCV, then ONNX Runtime" >&2
    "$build/bench/agegate_onnx_bench" timings --model "$model" --threads "$threads" --reps "$reps" --flip $flip \
      >>"$work/cpp.$flip"
    if [ $have_ort = 1 ]; then
      which=$([ $flip = on ] && echo flip_average || echo one_pass)
      node "$ort_dir/bench.js" "$work/job" $which "$threads" "$reps" >>"$work/ort.$flip"
    fi
  done
done
get() { awk -v k="$2" '$1==k {print $2}' "$work/$1" 2>/dev/null | median; }

echo
echo "machine: $(nproc) cores, $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr); model $(basename "$model")"
echo "per face at batch 1, $threads threads, p50 of $reps runs over 8 prepared photos, median of $rounds alternating rounds"
printf "%-34s %12s %12s %12s\n" "runtime" "one pass" "flip avg" "vs LibTorch"
row() {
  awk -v n="$1" -v a="$2" -v b="$3" -v ra="$4" -v rb="$5" 'BEGIN {
    if (a == "nan") { printf "%-34s %12s\n", n, "not installed"; exit }
    printf "%-34s %9.2f ms %9.2f ms %6.2fx %6.2fx\n", n, a, b, ra / a, rb / b }'
}
lt_off=$(get cpp.off libtorch_ms); lt_on=$(get cpp.on libtorch_ms)
row "LibTorch (agegate predict/serve)" "$lt_off" "$lt_on" "$lt_off" "$lt_on"
row "OpenCV DNN $(pkg-config --modversion opencv4 2>/dev/null)" "$(get cpp.off opencv_ms)" "$(get cpp.on opencv_ms)" "$lt_off" "$lt_on"
row "ONNX Runtime (onnxruntime-node)" "$(get ort.off ort_ms)" "$(get ort.on ort_ms)" "$lt_off" "$lt_on"
echo "(vs LibTorch: LibTorch's time / this runtime's; above 1 is faster than LibTorch)"
