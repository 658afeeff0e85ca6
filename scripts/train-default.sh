#!/usr/bin/env bash
# Trains the shipped default model (models/agegate-default.agm) on the CPU:
# the face-identity ResNet (face-api.js's FaceRecognitionNet weights from
# ../shared/weights/face_recognition, trained without age labels) fine-tuned
# for age at 150 px. About 20 minutes on 2 cores (models/MODEL_CARD.md).
# Usage: scripts/train-default.sh [RUN_DIR]   (default runs/default)
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/default}
export OMP_WAIT_POLICY=PASSIVE
./build/agegate train --out "$run" --backbone face_resnet --input-size 150 --epochs 16 --batch-size 64 \
  --lr 1e-3 --backbone-lr-scale 0.1 --seed 42 --max-minutes 50
