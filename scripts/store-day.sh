#!/usr/bin/env bash
# A store day you can watch: starts `agegate serve` with a checkout database,
# replays a simulated day through it (real face photos as customers, real
# grocery baskets, six cashiers of whom c6 is careless), then runs the
# compliance audit and prints where its report is.
# Usage: scripts/store-day.sh [OUT_DIR] [CUSTOMERS]
#   DB=postgresql://... records into PostgreSQL instead of OUT_DIR/checkout.db.
#   MODEL=path.agm picks the model (default: the shipped one).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-store-day}; customers=${2:-1200}
mkdir -p "$out"
out=$(cd "$out" && pwd)
db=${DB:-sqlite:$out/checkout.db}
model=${MODEL:-models/agegate.agm}
day=$(date -u +%F)
[ -x build/agegate ] || scripts/build.sh
export OMP_WAIT_POLICY=PASSIVE
build/agegate serve --port 0 --db "$db" --model "$model" --threads 2 --torch-threads 1 2>"$out/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
port=""
for _ in $(seq 300); do
  port=$(sed -n 's/.*serving on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$out/serve.log" | head -1)
  [ -n "$port" ] && break
  kill -0 $pid 2>/dev/null || { cat "$out/serve.log" >&2; exit 1; }
  sleep 0.2
done
echo "service on port $port, recording into $db" >&2
build/agegate replay-day --url "http://127.0.0.1:$port" --customers "$customers" --date "$day" >"$out/replay.json"
kill -TERM $pid; wait $pid
trap - EXIT
build/agegate audit --db "$db" --from "$day" --to "$day" --model "$model" --out "$out/audit"
echo "what really happened: $out/replay.json"
