#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install, build, train with the
# shipped model's CPU configuration (the face ResNet, 16 epochs: about 20
# minutes on 2 free cores) on ../shared/data/faces, then evaluate and
# predict with the model it made.
#   scripts/run-main.sh [RUN_DIR]     (default runs/main)
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/main}
scripts/install-deps.sh
scripts/build.sh
export OMP_WAIT_POLICY=PASSIVE
scripts/train-default.sh "$run"
# The held-out test part of the run's split: photos that chose nothing.
./build/agegate evaluate --model "$run/model.agm" --data "${AGEGATE_SHARED_DIR:-../shared}/data/faces" \
  --split "$run/split.csv" --report "$run/eval-report"
echo "run folder: $run (model.agm, metrics.csv, report/index.html)"
./build/agegate predict --model "$run/model.agm" $(ls -d ${AGEGATE_SHARED_DIR:-../shared}/data/faces/final_files/*.jpg | head -3)
