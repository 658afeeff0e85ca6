#!/usr/bin/env bash
# The retail insights at chain scale (a benchmark, not a test): a synthetic
# chain built from the real sample (bench/chain_gen.cpp: stores x a year of
# the sample's baskets, resampled) at each size, imported into a throwaway
# PostgreSQL cluster (and SQLite up to SQLITE_MAX lines), then `insights`
# and `recommend --db` on it. Each step's wall time and peak resident memory
# (GNU time's maximum RSS) go to a table; the work folder is deleted after.
#   bench/chain-scale.sh [BUILD] [SIZES...]        (default: 10000000 50000000)
# Environment: SQLITE_MAX (default 10000000), WORK (default a folder in /tmp;
# 50M lines take about 4 GB of CSV and 15 GB of PostgreSQL), REFERENCE (the
# build folder of another agegate, e.g. one whose insights loaded every line:
# its import and insights run on SQLite beside this one's, sizes up to
# SQLITE_MAX).
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}"); shift || true
reference=${REFERENCE:+$(realpath "$REFERENCE")}
sizes=("${@:-10000000 50000000}")
read -r -a sizes <<<"${sizes[*]}"
sqlite_max=${SQLITE_MAX:-10000000}
sample=${AGEGATE_SHARED_DIR:-../shared}/data/retail
[ -x /usr/bin/time ] || { echo "chain-scale: needs GNU time (apt-get install time)" >&2; exit 1; }
work=${WORK:-$(mktemp -d /tmp/agegate-chain.XXXXXX)}
mkdir -p "$work"; trap 'rm -rf "$work"' EXIT
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB"
cat >"$work/run.sh" <<INNER
#!/usr/bin/env bash
set -euo pipefail
step() {  # size engine step args...   (AGEGATE_EXE: the program, default this build's)
  local size=\$1 engine=\$2 name=\$3; shift 3
  /usr/bin/time -f '%e %M' -o "$work/time" "\${AGEGATE_EXE:-$build/agegate}" "\$@" >"$work/out" 2>"$work/err" ||
    { echo "chain-scale: \$name failed:" >&2; tail -5 "$work/err" >&2; exit 1; }
  read -r secs kb <"$work/time"
  printf '%-10s %-10s %-10s %9.1f s %9.0f MB\n' "\$size" "\$engine" "\$name" "\$secs" "\$((kb / 1024))" | tee -a "$work/table"
}
for size in ${sizes[*]}; do
  rm -rf "$work/data"
  "$build/bench/agegate_chain_gen" "$sample" "$work/data" "\$size" | sed "s/^/chain \$size: /"
  dbs=("postgresql \$AGEGATE_TEST_PG_URL")
  [ "\$size" -le $sqlite_max ] && dbs+=("sqlite sqlite:$work/chain.db")
  if [ -n "$reference" ] && [ "\$size" -le $sqlite_max ]; then
    rm -f "$work"/ref.db*
    AGEGATE_EXE="$reference/agegate" step "\$size" "sqlite-ref" import import-retail --db "sqlite:$work/ref.db" "$work/data"
    AGEGATE_EXE="$reference/agegate" step "\$size" "sqlite-ref" insights insights --db "sqlite:$work/ref.db" --out "$work/insights-ref" --no-confusion
    rm -f "$work"/ref.db*
  fi
  for entry in "\${dbs[@]}"; do
    read -r engine url <<<"\$entry"
    rm -f "$work"/chain.db*
    step "\$size" "\$engine" import import-retail --db "\$url" "$work/data"
    step "\$size" "\$engine" insights insights --db "\$url" --out "$work/insights" --no-confusion
    step "\$size" "\$engine" recommend recommend --db "\$url" --age 30
  done
done
echo
printf '%-10s %-10s %-10s %11s %12s\n' lines engine step wall "peak RSS"
cat "$work/table"
INNER
chmod +x "$work/run.sh"
scripts/with-postgres.sh "$work/run.sh"
