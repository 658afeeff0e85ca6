#!/usr/bin/env bash
# Remakes tests/data/onnx_runtime_outputs.json: exports the shipped model
# both ways, prepares 8 real photos (build/bench/agegate_onnx_bench inputs)
# and runs them under ONNX Runtime (onnxruntime-node). Needs npm's registry.
#   tools/onnx-runtime/make-fixture.sh [BUILD_DIR] [MODEL.agm]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}; model=${2:-$root/models/agegate.agm}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
[ -d "$here/node_modules/onnxruntime-node" ] || (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund)
"$build/bench/agegate_onnx_bench" inputs --model "$model" --out "$work" >/dev/null
node "$here/make-fixture.js" "$work" >"$work/out.json"
mv "$work/out.json" "$root/tests/data/onnx_runtime_outputs.json"
echo "wrote tests/data/onnx_runtime_outputs.json" >&2
