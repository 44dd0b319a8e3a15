#!/usr/bin/env bash
# A throwaway PostgreSQL for the test suite (ctest's `pg` fixture runs it).
#
#   tools/pg_test_server.sh start DIR         initdb into DIR if needed, start, print the URL
#   tools/pg_test_server.sh stop DIR [--force] stop (fast shutdown); the data stays for next time
#   tools/pg_test_server.sh restart DIR       stop and start again on the same port
#   tools/pg_test_server.sh url DIR           print the URL of the running server
#
# Two ctest runs in one build folder share its server: `start` records its
# caller (the parent process: ctest), and `stop` only stops the server when
# no recorded caller is still alive (--force stops it anyway). Commands on
# one DIR wait for each other (flock).
#
# The server listens on 127.0.0.1 on the first free port from 54320 and on a
# Unix socket in DIR/run, trusts every local connection (one role,
# bennu_password / password "bennu", needs its password so tests can see
# authentication fail), runs with fsync off, and has a database bennu_test,
# recreated empty by each `start` that starts the server. `start` writes the
# URL to DIR/url, which the tests read (BENNU_TEST_PG_URL_FILE); `stop`
# removes it. initdb refuses to run as root: as root the server runs as the
# `postgres` user (its data in DIR, or in /tmp when that user cannot reach
# DIR). Without PostgreSQL installed, `start` says so and exits 0 without a
# URL, so the PostgreSQL variants of the tests skip.
set -euo pipefail

usage() { echo "usage: $0 start|stop|restart|url DIR [--force]" >&2; exit 2; }
[ $# -eq 2 ] || { [ $# -eq 3 ] && [ "$1" = stop ] && [ "$3" = --force ]; } || usage
cmd=$1
force=${3:-}
mkdir -p "$2"
dir=$(cd "$2" && pwd)
if [ "$cmd" != url ]; then
  exec 9>"$dir/command.lock" # closed for every child (9>&-): the server must not hold the lock
  flock -w 300 9 || { echo "pg_test_server: $dir is locked by another command" >&2; exit 1; }
fi
caller=$PPID

find_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  local best
  best=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$best" ] && [ -x "$best/initdb" ]; then echo "$best"; return; fi
  if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  if command -v initdb >/dev/null; then dirname "$(command -v initdb)"; return; fi
}
bin=$(find_bin)

if [ "$(id -u)" -eq 0 ]; then
  os_user=postgres
  as_pg() { runuser -u postgres -- "$@" 9>&-; }
else
  os_user=$(id -un)
  as_pg() { "$@" 9>&-; }
fi
superuser=$os_user

# Where the cluster lives: DIR/data and DIR/run, unless the postgres user
# cannot reach DIR (a checkout in /root): then a private folder in /tmp,
# remembered in DIR/home. Sockets need a short path (108 bytes).
home_dir() {
  if [ -f "$dir/home" ] && [ -d "$(cat "$dir/home")" ]; then cat "$dir/home"; return; fi
  local home=$dir
  if [ "$cmd" != start ]; then echo "$home"; return; fi
  if [ "$os_user" = postgres ] && ! runuser -u postgres -- test -x "$dir" 2>/dev/null; then
    home=$(mktemp -d /tmp/bennu-pg.XXXXXX)
  elif [ ${#dir} -gt 80 ]; then
    home=$(mktemp -d /tmp/bennu-pg.XXXXXX)
  fi
  if [ "$home" != "$dir" ]; then
    [ "$os_user" = postgres ] && chown postgres: "$home"
    echo "$home" > "$dir/home"
  fi
  echo "$home"
}

url_for() { echo "postgres://$superuser@127.0.0.1:$1/bennu_test"; }

running() {
  [ -f "$data/postmaster.pid" ] && as_pg "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

psql_admin() {
  PGOPTIONS="-c client_min_messages=warning" "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$run" -p "$(cat "$dir/port")" -U "$superuser" -d postgres "$@" 9>&-
}

init_cluster() {
  [ -f "$data/PG_VERSION" ] && return
  mkdir -p "$data" "$run"
  if [ "$os_user" = postgres ]; then
    chown postgres: "$data" "$run"
  fi
  chmod 700 "$data"
  as_pg "$bin/initdb" -D "$data" -U "$superuser" -A trust -E UTF8 --locale=C >"$home/initdb.log" 2>&1 || {
    cat "$home/initdb.log" >&2
    exit 1
  }
  cat >>"$data/postgresql.conf" <<EOF

# tools/pg_test_server.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$run'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
log_min_messages = warning
EOF
  # One role needs its password (checked before the trust lines), so tests
  # can see authentication fail.
  { echo "host all bennu_password 127.0.0.1/32 scram-sha-256"; cat "$data/pg_hba.conf"; } >"$data/pg_hba.new"
  mv "$data/pg_hba.new" "$data/pg_hba.conf"
  [ "$os_user" = postgres ] && chown postgres: "$data/pg_hba.conf"
  return 0
}

# Starts on $1 (a port); false when the port was taken (another server won the race).
start_on() {
  local port=$1 log="$run/server.log"
  if as_pg "$bin/pg_ctl" start -D "$data" -w -t 60 -l "$log" -o "-p $port" >/dev/null 2>&1; then
    echo "$port" > "$dir/port"
    return 0
  fi
  if grep -q "could not bind\|could not create any TCP/IP sockets\|Address already in use" "$log" 2>/dev/null; then
    return 1
  fi
  echo "pg_test_server: PostgreSQL failed to start; its log ($log):" >&2
  tail -n 20 "$log" >&2 || true
  exit 1
}

start() {
  if [ -z "$bin" ]; then
    echo "pg_test_server: PostgreSQL is not installed (tools/deps.sh installs it); its tests will skip" >&2
    rm -f "$dir/url"
    return 0
  fi
  init_cluster
  mkdir -p "$dir/users"
  touch "$dir/users/$caller"
  if running && [ -f "$dir/port" ]; then
    url_for "$(cat "$dir/port")" | tee "$dir/url"
    return 0
  fi
  local port started=
  for port in $(seq 54320 54420); do
    port_busy "$port" && continue
    if start_on "$port"; then started=1; break; fi
  done
  [ -n "$started" ] || { echo "pg_test_server: no free port in 54320-54420" >&2; exit 1; }
  psql_admin <<'EOF'
DROP DATABASE IF EXISTS bennu_test WITH (FORCE);
CREATE DATABASE bennu_test;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bennu_password') THEN
    CREATE ROLE bennu_password LOGIN PASSWORD 'bennu';
  END IF;
END $$;
GRANT ALL ON DATABASE bennu_test TO bennu_password;
EOF
  url_for "$port" | tee "$dir/url"
}

stop() {
  rm -f "$dir/users/$caller"
  if [ -z "$force" ] && [ -d "$dir/users" ]; then
    local pid others=
    for f in "$dir/users"/*; do
      [ -e "$f" ] || continue
      pid=${f##*/}
      if [ -d "/proc/$pid" ]; then others="$others $pid"; else rm -f "$f"; fi
    done
    if [ -n "$others" ]; then
      echo "pg_test_server: still used by pid$others: left running (stop DIR --force stops it)" >&2
      return 0
    fi
  fi
  rm -rf "$dir/users"
  rm -f "$dir/url"
  [ -n "$bin" ] && [ -d "$data" ] || return 0
  if running; then
    as_pg "$bin/pg_ctl" stop -D "$data" -m fast -w -t 60 >/dev/null
  fi
}

restart() {
  [ -n "$bin" ] && running && [ -f "$dir/port" ] || { echo "pg_test_server: not running" >&2; exit 1; }
  as_pg "$bin/pg_ctl" restart -D "$data" -m fast -w -t 60 -l "$run/server.log" -o "-p $(cat "$dir/port")" >/dev/null
  url_for "$(cat "$dir/port")" | tee "$dir/url"
}

home=$(home_dir)
data=$home/data
run=$home/run

case "$cmd" in
  start) start ;;
  stop) stop ;;
  restart) restart ;;
  url)
    if [ -n "$bin" ] && running && [ -f "$dir/port" ]; then url_for "$(cat "$dir/port")"; else
      echo "pg_test_server: not running" >&2; exit 1
    fi ;;
  *) usage ;;
esac
