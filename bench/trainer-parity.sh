#!/usr/bin/env bash
# Trainer parity: agegate's trainer and the plain PyTorch reference
# (../shared/reference/face-age-pytorch, same network, loss, optimiser,
# schedule, input size and batch) on the same split, side by side, one
# thread each, then their learning curves and speeds in one table.
#
#   bench/trainer-parity.sh [OUT] [EPOCHS]     (default runs/parity, 16)
#
# agegate draws the split (seed 42: 5,313 train / 1,139 validation / 1,139
# held-out test, the split scripts/run-main.sh draws) and writes OUT/agegate/split.csv;
# the reference starts on that file as soon as it exists. Needs Debian's
# python3-torch, python3-numpy and python3-pil for the reference. A 16-epoch
# pair takes about 30 minutes on this 2-core machine. Not a test: a recipe
# whose output goes into models/MODEL_CARD.md.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/parity}
epochs=${2:-16}
shared=${AGEGATE_SHARED_DIR:-../shared}
ref=$shared/reference/face-age-pytorch/train.py
[ -f "$ref" ] || { echo "trainer-parity: $ref not found (set AGEGATE_SHARED_DIR)" >&2; exit 2; }
/usr/bin/python3 -c 'import torch, numpy, PIL' 2>/dev/null ||
  { echo "trainer-parity: the reference needs python3-torch python3-numpy python3-pil (apt-get install)" >&2; exit 2; }
mkdir -p "$out"
# The reference's malloc setting (its README); agegate sets the same itself (core/allocator.h).
export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE

resume=()
[ -f "$out/agegate/checkpoint.pt" ] && resume=(--resume)
./build/agegate train --out "$out/agegate" --backbone face_resnet --input-size 150 --epochs "$epochs" \
  --batch-size 64 --lr 1e-3 --backbone-lr-scale 0.1 --seed 42 --threads 1 --workers 1 --no-report \
  "${resume[@]}" >"$out/agegate.log" 2>&1 &
agegate_pid=$!
trap 'kill $agegate_pid ${ref_pid:-} 2>/dev/null || true' INT TERM
for _ in $(seq 600); do
  [ -f "$out/agegate/split.csv" ] && break
  kill -0 $agegate_pid 2>/dev/null || { tail -5 "$out/agegate.log" >&2; exit 1; }
  sleep 1
done
if [ ! -f "$out/reference/predictions_test.csv" ]; then
  rm -rf "$out/reference"
  /usr/bin/python3 "$ref" --faces "$shared/data/faces" --split "$out/agegate/split.csv" --out "$out/reference" \
    --epochs "$epochs" --threads 1 >"$out/reference.log" 2>&1 &
  ref_pid=$!
fi
status=0
wait $agegate_pid || status=$?
[ -n "${ref_pid:-}" ] && { wait "$ref_pid" || status=$?; }
[ $status = 0 ] || { echo "trainer-parity: a run failed (see $out/*.log)" >&2; exit $status; }

/usr/bin/python3 - "$out" <<'EOF'
import csv, os, re, sys
out = sys.argv[1]
ours = {int(r['epoch']): r for r in csv.DictReader(open(os.path.join(out, 'agegate', 'metrics.csv')))}
ref = {}
for line in open(os.path.join(out, 'reference', 'log.txt')):
    m = re.match(r'\s*(\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| (\d+) \| ([\d.]+)', line)
    if m:
        ref[int(m.group(1))] = dict(val=float(m.group(4)), flip=float(m.group(5)), ips=float(m.group(7)))
print(f"machine: {os.uname().machine}, {os.cpu_count()} cores; one thread per trainer, both at once")
print("epoch | agegate val MAE | reference val MAE | difference | agegate img/s | reference img/s")
worst = None
for e in sorted(set(ours) & set(ref)):
    a, b = float(ours[e]['val_mae']), ref[e]['val']
    if e >= 4:
        worst = max(worst or -1e9, a - b)
    print(f"{e:5d} | {a:15.3f} | {b:17.3f} | {a - b:+10.3f} | {float(ours[e]['images_per_s']):13.1f} | {ref[e]['ips']:15.1f}")
ips_a = [float(r['images_per_s']) for r in ours.values()]
ips_b = [r['ips'] for r in ref.values()]
if ips_a and ips_b:
    ma, mb = sorted(ips_a)[len(ips_a) // 2], sorted(ips_b)[len(ips_b) // 2]
    print(f"median img/s: agegate {ma:.1f}, reference {mb:.1f}, ratio {ma / mb:.2f}")
if worst is not None:
    print(f"largest (agegate - reference) from epoch 4 on: {worst:+.3f} years (target <= +0.05)")
for name in ('agegate.log', os.path.join('reference', 'log.txt')):
    for line in open(os.path.join(out, name)):
        if 'held-out test' in line or line.startswith('test:') or line.startswith('val:'):
            print(name.split('/')[0] + ': ' + line.strip())
EOF
