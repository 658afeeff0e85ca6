#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster: initdb into a temporary
# folder (as the unprivileged `postgres` user when run as root), start it on
# a free local port, export AGEGATE_TEST_PG_URL, run the command, stop the
# cluster and delete the folder. When PostgreSQL is missing or will not start,
# the command still runs without AGEGATE_TEST_PG_URL and the PostgreSQL tests
# report skipped (never passed).
# Usage: scripts/with-postgres.sh COMMAND [ARGS...]
set -uo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "with-postgres: PostgreSQL is not installed; its tests will be skipped" >&2
  exec "$@"
fi
dir=$(mktemp -d /tmp/agegate-pg.XXXXXX)
chmod 755 "$dir"
as=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$dir"
  as=(runuser -u postgres --)
fi
port=""
for p in $(seq 55432 55632); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
stop() {
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
  rm -rf "$dir"
}
started=0
if [ -n "$port" ] &&
   "${as[@]}" "$bin/initdb" -D "$dir/data" -A trust -U agegate --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 &&
   "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
     -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null 2>&1 &&
   "${as[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U agegate agegate_test; then
  started=1
fi
if [ "$started" = 1 ]; then
  trap stop EXIT
  export AGEGATE_TEST_PG_URL="postgresql://agegate@127.0.0.1:$port/agegate_test"
  echo "with-postgres: throwaway PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on port $port" >&2
else
  echo "with-postgres: PostgreSQL did not start; its tests will be skipped. Logs:" >&2
  cat "$dir/initdb.log" "$dir/server.log" 2>/dev/null | tail -20 >&2
  stop
fi
"$@"
