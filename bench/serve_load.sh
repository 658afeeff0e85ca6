#!/usr/bin/env bash
# Load test of `agegate serve` with wrk on loopback: a 640x480 frame with one
# face (a training photo centred on grey, made with ImageMagick), concurrency
# 1, 4 and 16, then an overload run (40); prints a table. ok/s counts 2xx only.
# THREADS (default 2) and QUEUE (default 16) set the server's concurrency bound. FRAME=x.jpg uses your own frame.
# REFERENCE=1 runs the service as it was before the speed work (serve --reference-path, one tensor thread per
# estimation, OMP_WAIT_POLICY=PASSIVE, glibc's malloc defaults); bench/speed.sh compares the two.
# TORCH_THREADS sets --torch-threads (default: the server's own choice, cores / THREADS).
# DB=sqlite:PATH (or postgresql://...) records every estimate (each request carries a checkout context) and
# prints how many events were written; CONCURRENCY="4" picks the runs (default "1 4 16 40").
# Usage: bench/serve_load.sh BUILD_DIR MODEL.agm [SECONDS]
set -euo pipefail
build=${1:?build dir}; model=${2:?model file}; secs=${3:-15}
port=${PORT:-18090}
pid=""; work=$(mktemp -d); trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
faces=${AGEGATE_SHARED_DIR:-$(dirname "$0")/../../shared}/data/faces/final_files
photo=000000.jpg
if [ -n "${FRAME:-}" ]; then cp "$FRAME" "$work/frame.jpg"; else
  convert -size 640x480 xc:gray50 "$faces/$photo" -gravity center -composite -quality 90 "$work/frame.jpg"; fi
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "image/jpeg"
local f = io.open("$work/frame.jpg", "rb"); wrk.body = f:read("*a"); f:close()
LUA
if [ -n "${DB:-}" ]; then
  cat >> "$work/post.lua" <<'LUA'
wrk.headers["X-Agegate-Store"] = "S1"
wrk.headers["X-Agegate-Lane"] = "1"
wrk.headers["X-Agegate-Cashier"] = "c1"
LUA
fi
ref_env=(); ref_args=()
if [ "${REFERENCE:-0}" = 1 ]; then
  ref_env=(OMP_WAIT_POLICY=PASSIVE AGEGATE_MALLOC=default); ref_args=(--reference-path --torch-threads "${TORCH_THREADS:-1}")
elif [ -n "${TORCH_THREADS:-}" ]; then ref_args=(--torch-threads "$TORCH_THREADS"); fi
env "${ref_env[@]}" "$build/agegate" -q --log-level warn serve --port "$port" --model "$model" \
  --threads "${THREADS:-2}" --max-queue "${QUEUE:-16}" "${ref_args[@]}" ${DB:+--db "$DB"} &
pid=$!
for _ in $(seq 50); do curl -sf "localhost:$port/readyz" >/dev/null && break; sleep 0.2; done
echo "machine: $(nproc) cores, $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs); server: ${THREADS:-2} estimation threads, queue ${QUEUE:-16}, records: ${DB:-off}, path: $([ "${REFERENCE:-0}" = 1 ] && echo reference || echo fast)"
printf "%-12s %10s %10s %10s %10s %10s\n" concurrency "req/s" "ok/s" "p50" "p99" "non-2xx"
for c in ${CONCURRENCY:-1 4 16 40}; do
  out=$(wrk -t "$(( c < 2 ? 1 : 2 ))" -c "$c" -d "${secs}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port/v1/estimate")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $5}' <<<"$out"); bad=${bad:-0}
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  ok=$(awk -v t="$total" -v b="$bad" -v s="$secs" 'BEGIN {printf "%.1f", (t - b) / s}')
  printf "%-12s %10s %10s %10s %10s %10s\n" "$c" "$rps" "$ok" "$p50" "$p99" "$bad"
done
curl -sf "localhost:$port/healthz" >/dev/null && echo "after the load: healthz ok"
echo "server memory after the load: $(awk '/VmRSS/ {print $2 " " $3}' "/proc/$pid/status")"
curl -s "localhost:$port/metrics" | grep -E '^agegate_requests_total|^agegate_events_recorded_total|^agegate_event_record_failures_total'
kill -TERM $pid; wait $pid && echo "SIGTERM: clean exit"
