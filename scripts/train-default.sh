#!/usr/bin/env bash
# The shipped model's recipe (models/agegate.agm), on the CPU: 5-fold
# cross-fitting of the face-identity ResNet (face-api.js's FaceRecognitionNet
# weights from ../shared/weights/face_recognition, trained without age
# labels) fine-tuned for age at 150 px, calibration and policy tuned on every
# pool photo's out-of-fold estimate, then a student distilled from the five
# fold models on every pool photo. The held-out part (15%, the photos a
# single run with seed 42 holds out) is read only at the end.
#
# Cost: six 16-epoch trainings of about 5,400 photos each. The face ResNet
# trains at 30 (one machine of this kind, per thread) to 80 (another, two
# threads) images/s here, so the recipe takes 2 to 5 hours on 2 cores:
# longer than one working session. It resumes where it stopped (Ctrl-C, a
# kill, or a later start with the run folder kept): run the same command
# again. On a GPU it is minutes.
#
# Usage: scripts/train-default.sh [RUN_DIR]   (default runs/default)
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/default}
export OMP_WAIT_POLICY=PASSIVE
resume=()
[ -f "$run/options.json" ] && resume=(--resume)
./build/agegate train --out "$run" --backbone face_resnet --input-size 150 --epochs 16 --batch-size 64 \
  --lr 1e-3 --backbone-lr-scale 0.1 --seed 42 --folds 5 "${resume[@]}"
