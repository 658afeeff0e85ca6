#!/usr/bin/env bash
# The shipped model's recipe (models/agegate.agm), on the CPU: 5-fold
# cross-fitting of the face-identity ResNet (face-api.js's FaceRecognitionNet
# weights from ../shared/weights/face_recognition, trained without age
# labels) fine-tuned for age at 150 px, calibration and policy tuned on every
# pool photo's out-of-fold estimate, then a student distilled from the five
# fold models on every pool photo. The held-out part (15%, the photos a
# single run with seed 42 holds out) is read only at the end.
#
# Cost: six 16-epoch trainings of about 5,200-6,500 photos each. It took
# 3,998 s (67 min) on a 2-core AMD EPYC machine here (2026-12-08, 78-191
# images/s on 2 threads, with other work sharing the cores part of the
# time); machines of this kind have ranged from 30 to 100 images/s per
# thread, so allow up to about 3 hours. It resumes where it stopped
# (Ctrl-C, a kill, or a later start with the run folder kept): run the same
# command again. Folds can also run as separate jobs (README: --fold k,
# then --gather). On a GPU it is minutes.
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
