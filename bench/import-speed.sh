#!/usr/bin/env bash
# import-retail of the real sample (../shared/data/retail) into a throwaway
# PostgreSQL cluster and into SQLite, timed end to end (reading and checking
# the files included), ROUNDS rounds; with a REFERENCE build (another
# checkout's build folder, e.g. one before the COPY path) the two alternate
# in each round. The database phase's own rate is the "import:" progress line.
#   bench/import-speed.sh [BUILD] [REFERENCE_BUILD]     (ROUNDS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; reference=${2:-}
data=${AGEGATE_SHARED_DIR:-../shared}/data/retail
rounds=${ROUNDS:-2}
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
cat >"$build/import-speed-run.sh" <<INNER
#!/usr/bin/env bash
set -euo pipefail
time_one() {  # label exe db
  local s e; s=\$(date +%s.%N)
  "\$2" import-retail --db "\$3" "$data" 2>"$build/import-speed.err" >/dev/null
  e=\$(date +%s.%N)
  printf '%-10s %-28s %6.2f s   %s\n' "\$1" "\${3%%:*}" "\$(echo "\$e - \$s" | bc)" "\$(grep -o 'import: [0-9]* lines in [^)]*)' "$build/import-speed.err" | tail -1)"
}
# The reference gets a database of its own: its schema may be older.
ref_url=\${AGEGATE_TEST_PG_URL%/*}/agegate_ref
[ -n "$reference" ] && psql -q "\$AGEGATE_TEST_PG_URL" -c "CREATE DATABASE agegate_ref" >/dev/null
for r in \$(seq $rounds); do
  [ -n "$reference" ] && time_one reference "$reference/agegate" "\$ref_url"
  time_one this "$build/agegate" "\$AGEGATE_TEST_PG_URL"
done
rm -f "$build/import-speed.db"
[ -n "$reference" ] && time_one reference "$reference/agegate" "sqlite:$build/import-speed-ref.db"
time_one this "$build/agegate" "sqlite:$build/import-speed.db"
rm -f "$build"/import-speed*.db*
INNER
chmod +x "$build/import-speed-run.sh"
scripts/with-postgres.sh "$build/import-speed-run.sh"
