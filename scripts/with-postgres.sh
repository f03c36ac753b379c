#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL server:
#
#   bash scripts/with-postgres.sh npx vitest run test/postgres-server.test.ts
#
# initdb's a temporary data directory, starts postgres on 127.0.0.1 on a free
# port (its unix socket stays in the temporary directory), exports
# TEST_DATABASE_URL for the command, then stops the server and deletes
# everything, whatever the command's outcome. The command's exit status is
# the script's. As root, the server runs as the `postgres` user (PostgreSQL
# refuses to run as root); the command itself runs as the caller.
#
# TEST_PG_RESTART names a script that restarts the server in place.
#
# PG_BIN selects the server binaries (default: pg_config --bindir, else the
# newest /usr/lib/postgresql/*/bin).
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 <command> [args...]" >&2
  exit 2
fi

find_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
  done
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir
    return
  fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
  echo "with-postgres: no PostgreSQL server binaries found (set PG_BIN)" >&2
  exit 1
}
BIN="$(find_bin)"

# As root, run server commands as `postgres`; otherwise as ourselves.
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "with-postgres: running as root but there is no 'postgres' user to run the server" >&2
    exit 1
  fi
  as_server() {
    if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"
    else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
  }
  SERVER_USER=postgres
else
  as_server() { "$@"; }
  SERVER_USER="$(id -un)"
fi

free_port() {
  if command -v node >/dev/null 2>&1; then
    node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
  else
    python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1]);s.close()"
  fi
}

DIR="$(mktemp -d "${TMPDIR:-/tmp}/with-postgres.XXXXXX")"
chmod 700 "$DIR"
if [ "$(id -u)" -eq 0 ]; then chown "$SERVER_USER" "$DIR"; fi

started=""
cleanup() {
  local status=$?
  if [ -n "$started" ]; then
    as_server "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 \
      || as_server "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_server "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 --no-locale \
  >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }

# Tests run without WAL flushes (fast, nothing to keep); PG_FSYNC=on keeps
# the defaults, for benchmarks that must pay for durability like production.
durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
[ "${PG_FSYNC:-off}" = on ] && durability=""

# A free port can be taken between the probe and the start: try a few.
for attempt in 1 2 3 4 5; do
  PORT="$(free_port)"
  if as_server "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR $durability -c max_connections=100" \
    start >/dev/null 2>&1; then
    started=yes
    break
  fi
  if [ "$attempt" -eq 5 ]; then
    echo "with-postgres: the server did not start:" >&2
    cat "$DIR/server.log" >&2 || true
    exit 1
  fi
done

export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres"

# Fault tests restart the server mid-run: this script does it in place (same
# data directory, port and options).
cat >"$DIR/restart.sh" <<RESTART
#!/usr/bin/env bash
set -euo pipefail
$(declare -f as_server)
as_server "$BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 30 restart >/dev/null
RESTART
chmod 755 "$DIR/restart.sh"
export TEST_PG_RESTART="$DIR/restart.sh"
echo "with-postgres: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') at $TEST_DATABASE_URL" >&2

set +e
"$@"
status=$?
set -e
exit "$status"
