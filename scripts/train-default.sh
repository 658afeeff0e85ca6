#!/usr/bin/env bash
# Trains the shipped default model (models/agegate-default.agm) on the CPU.
# Usage: scripts/train-default.sh [RUN_DIR]   (default runs/default)
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/default}
export OMP_WAIT_POLICY=PASSIVE
./build/agegate train --out "$run" --input-size 128 --epochs 9 --batch-size 64 \
  --lr 1e-3 --backbone-lr-scale 0.5 --seed 42 --max-minutes 50
