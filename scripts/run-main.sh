#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install, build, train one model
# with the shipped recipe's settings (the face ResNet at 150 px, 16 epochs:
# 20 to 50 minutes on 2 free cores, as fast as the machine's cores: 77-81
# images/s on two were measured on one machine of this kind, 30 per thread on another) on ../shared/data/faces, then evaluate
# it on its held-out part and predict with it. The shipped model itself
# comes from the longer cross-fitted recipe, scripts/train-default.sh (five
# such trainings and a distilled student, resumable).
#   scripts/run-main.sh [RUN_DIR]     (default runs/main)
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/main}
scripts/install-deps.sh
scripts/build.sh
export OMP_WAIT_POLICY=PASSIVE
resume=()
[ -f "$run/checkpoint.pt" ] && resume=(--resume)
./build/agegate train --out "$run" --backbone face_resnet --input-size 150 --epochs 16 --batch-size 64 \
  --lr 1e-3 --backbone-lr-scale 0.1 --seed 42 "${resume[@]}"
# The held-out test part of the run's split: photos that chose nothing.
./build/agegate evaluate --model "$run/model.agm" --data "${AGEGATE_SHARED_DIR:-../shared}/data/faces" \
  --split "$run/split.csv" --report "$run/eval-report"
echo "run folder: $run (model.agm, metrics.csv, report/index.html)"
./build/agegate predict --model "$run/model.agm" $(ls -d ${AGEGATE_SHARED_DIR:-../shared}/data/faces/final_files/*.jpg | head -3)
