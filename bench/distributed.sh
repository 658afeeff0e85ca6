#!/usr/bin/env bash
# Data-parallel training on this machine: the face ResNet (150 px, batch 64)
# trained for EPOCHS epochs on the first PHOTOS photos of the faces folder,
#   1 process x 1 thread      the per-core yardstick
#   1 process x 2 threads     what one process makes of two cores
#   2 ranks x 1 thread        two processes, gradients summed over Gloo on 127.0.0.1
#                             (through torchrun when /usr/bin/torchrun exists)
# then one line each: training images/s of the last epoch (the first fills
# the photo cache), the scaling efficiency against 2 x the 1-thread rate,
# and the time per step the ranks spent summing gradients.
#   bench/distributed.sh [BUILD] [OUT]      (PHOTOS=1200 EPOCHS=2)
# Run it on an otherwise idle machine: the three runs take the cores in turn.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; out=${2:-$build/bench-distributed}
photos=${PHOTOS:-1200}; epochs=${EPOCHS:-2}
exe=$(realpath "$build/agegate")
rm -rf "$out"; mkdir -p "$out"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $photos photos, $epochs epochs, batch 64, 150 px"
args=(-q train --backbone face_resnet --input-size 150 --batch-size 64 --epochs "$epochs" --max-photos "$photos"
      --workers 1 --no-report --no-groups --seed 42)
export OMP_WAIT_POLICY=PASSIVE

OMP_NUM_THREADS=1 "$exe" "${args[@]}" --threads 1 --out "$out/1x1" >"$out/1x1.log" 2>&1
OMP_NUM_THREADS=2 "$exe" "${args[@]}" --threads 2 --out "$out/1x2" >"$out/1x2.log" 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ -x /usr/bin/torchrun ]; then
  launcher="torchrun"
  OMP_NUM_THREADS=1 /usr/bin/torchrun --nnodes 1 --nproc_per_node 2 --master_addr 127.0.0.1 --master_port "$port" \
    --redirects 2 --tee 2 --log_dir "$out/torchrun-logs" --no_python \
    "$exe" "${args[@]}" --threads 1 --out "$out/2x1" >"$out/2x1.log" 2>&1
else
  launcher="by hand"
  for r in 0 1; do
    WORLD_SIZE=2 RANK=$r LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port OMP_NUM_THREADS=1 \
      "$exe" "${args[@]}" --threads 1 --out "$out/2x1" >"$out/2x1-rank$r.log" 2>&1 &
  done
  wait
fi

last_ips() { tail -1 "$1/metrics.csv" | awk -F, '{print $8}'; }
base=$(last_ips "$out/1x1")
row() {  # label run
  local ips; ips=$(last_ips "$2")
  local sync; sync=$(python3 -c "import json; r=json.load(open('$2/run.json'))['run']; s=r.get('gradient_sync_seconds_per_step'); print('%.1f ms (%d bucket(s), %s)' % (1000*s, r['gradient_buckets'], r['backend']) if s is not None else '-')")
  printf '%-34s %7.1f img/s   efficiency %5.1f%%   gradient sum per step: %s\n' "$1" "$ips" \
    "$(echo "100 * $ips / (2 * $base)" | bc -l)" "$sync"
}
printf '%-34s %7.1f img/s\n' "1 process x 1 thread" "$base"
row "1 process x 2 threads" "$out/1x2"
row "2 ranks x 1 thread ($launcher, Gloo)" "$out/2x1"
