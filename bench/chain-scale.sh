#!/usr/bin/env bash
# The retail insights at chain scale (a benchmark, not a test): a synthetic
# chain built from the real sample (bench/chain_gen.cpp: stores x a year of
# the sample's baskets, resampled) at each size, imported into a throwaway
# PostgreSQL cluster (and SQLite up to SQLITE_MAX lines), then `insights`
# and `recommend --db` on it; then the chain's checkout records (a sale per
# basket with its lines, a camera event per sale; loaded with COPY / .import)
# and `audit` on them. Each step's wall time and peak resident memory
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
for tool in /usr/bin/time psql sqlite3 bc; do
  command -v "$tool" >/dev/null || { echo "chain-scale: needs $tool (apt-get install time postgresql-client sqlite3 bc)" >&2; exit 1; }
done
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
# The chain's checkout records into a database of this schema: PostgreSQL
# through COPY into monthly partitions made here (the names the Store uses),
# SQLite through the sqlite3 shell's .import.
load_checkout() {  # engine url
  if [ "\$1" = postgresql ]; then
    psql -q -v ON_ERROR_STOP=1 "\$2" >/dev/null <<SQL
TRUNCATE checkout_events, sales, sale_lines;
DO \\\$\\\$ DECLARE m date; t text; BEGIN
  FOREACH t IN ARRAY ARRAY['checkout_events', 'sales', 'sale_lines'] LOOP
    FOR m IN SELECT generate_series(date '2016-12-01', date '2018-01-01', interval '1 month')::date LOOP
      EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%s) TO (%s)',
        t || to_char(m, '_YYYY_MM'), t, extract(epoch from m)::bigint * 1000,
        extract(epoch from m + interval '1 month')::bigint * 1000);
    END LOOP;
  END LOOP;
END \\\$\\\$;
\\copy checkout_events ($("$build/bench/agegate_chain_gen" --columns events)) FROM '$work/data/checkout_events.csv' WITH (FORMAT csv, FORCE_NOT_NULL (transaction_id, terminal))
\\copy sales ($("$build/bench/agegate_chain_gen" --columns sales)) FROM '$work/data/sales.csv' WITH (FORMAT csv)
\\copy sale_lines ($("$build/bench/agegate_chain_gen" --columns lines)) FROM '$work/data/sale_lines.csv' WITH (FORMAT csv, FORCE_NOT_NULL (category))
ANALYZE checkout_events, sales, sale_lines;
SQL
  else
    local f=\${2#sqlite:}
    sqlite3 "\$f" "DELETE FROM checkout_events" "DELETE FROM sales" "DELETE FROM sale_lines" \\
      ".mode csv" ".import $work/data/checkout_events.csv checkout_events" ".import $work/data/sales.csv sales" \\
      ".import $work/data/sale_lines.csv sale_lines" "ANALYZE"
  fi
}
audit_step() {  # size engine url
  local s e; s=\$(date +%s.%N); load_checkout "\$2" "\$3"; e=\$(date +%s.%N)
  printf '%-10s %-10s %-10s %9.1f s %12s\n' "\$1" "\$2" load "\$(echo "\$e - \$s" | bc)" "(psql/sqlite3)" | tee -a "$work/table"
  step "\$1" "\$2" audit audit --db "\$3" --out "$work/audit"
}
for size in ${sizes[*]}; do
  rm -rf "$work/data"
  "$build/bench/agegate_chain_gen" "$sample" "$work/data" "\$size" 42 --checkout | sed "s/^/chain \$size: /"
  dbs=("postgresql \$AGEGATE_TEST_PG_URL")
  [ "\$size" -le $sqlite_max ] && dbs+=("sqlite sqlite:$work/chain.db")
  if [ -n "$reference" ] && [ "\$size" -le $sqlite_max ]; then
    rm -f "$work"/ref.db*
    AGEGATE_EXE="$reference/agegate" step "\$size" "sqlite-ref" import import-retail --db "sqlite:$work/ref.db" "$work/data"
    AGEGATE_EXE="$reference/agegate" step "\$size" "sqlite-ref" insights insights --db "sqlite:$work/ref.db" --out "$work/insights-ref" --no-confusion
    load_checkout sqlite "sqlite:$work/ref.db"
    AGEGATE_EXE="$reference/agegate" step "\$size" "sqlite-ref" audit audit --db "sqlite:$work/ref.db" --out "$work/audit-ref"
    rm -f "$work"/ref.db*
  fi
  for entry in "\${dbs[@]}"; do
    read -r engine url <<<"\$entry"
    rm -f "$work"/chain.db*
    step "\$size" "\$engine" import import-retail --db "\$url" "$work/data"
    step "\$size" "\$engine" insights insights --db "\$url" --out "$work/insights" --no-confusion
    step "\$size" "\$engine" recommend recommend --db "\$url" --age 30
    audit_step "\$size" "\$engine" "\$url"
  done
done
echo
printf '%-10s %-10s %-10s %11s %12s\n' lines engine step wall "peak RSS"
cat "$work/table"
INNER
chmod +x "$work/run.sh"
scripts/with-postgres.sh "$work/run.sh"
