#!/usr/bin/env bash
# bench/run.sh — the body of `make bench`: measures Bennu (bench_server),
# nginx (the peer) and the ceiling server with wrk on 127.0.0.1, one server at
# a time, and prints one BENCH line per case, BENCH_CPU lines, a BENCH_RSS
# line and a summary against the project's targets. See bench/README.md.
# The json_router_* cases add a 4th server, "router" (bench_server with
# BENCH_ROUTER=1: endpoint, 10-route router, 3-plug pipeline), measured next
# to the bare one on /json, and print BENCH_ROUTER lines comparing the two.
# The fortunes_mem_* cases measure TechEmpower's Fortunes page (/fortunes)
# against nginx serving the same bytes as a static file and a 2nd ceiling
# answering those bytes; render_bench adds the page's render cost in ns.
# The database cases (*_pg, *_sqlite) measure db_server, TechEmpower's db,
# queries, fortunes and updates tests on the data layer, over a throwaway
# PostgreSQL (tools/pg_test_server.sh, stopped at the end) and a SQLite file
# in the temp dir; for the *_pg cases the peer is `pgbench -S` against the
# same PostgreSQL, measured right after Bennu.
# The WebSocket cases (ws_n*) run chanload (N clients joined to one topic:
# join rate, server memory per idle connection, broadcast fan-out, echo
# round trip) against chan_server (bennu/socket.h) and then against its peer
# bench/ws_peer.mjs (Node and the npm `ws` package), one server at a time,
# after every other case, and print one BENCH line per measure with ratios.
# presence_join is no server either: presence_bench tracks 10,000 presences on
# one node of a two-node cluster over a redis-server of its own (free loopback
# port) and prints tracks/s and how long the other node takes to hold them all.
# pubsub_cluster is no server either: pubsub_bench broadcasts from node A to 100
# subscribers on nodes A and B over a redis-server of its own, then to the same
# subscribers on one node with the local adapter, and prints messages/s and
# delivery latencies of both (docs/guides/pubsub.md).
# live (LiveView) runs liveload against live_server alone (one loop thread, no
# master) after the servers-free cases above: N views of /counter rendered and
# joined over /live/websocket, the server's memory per idle view, the bytes of a
# counter click's reply and of a one-row change in a 1,000-row table, and the
# round trip of clicks from all N views. No peer: Phoenix is not installed here.
#
# Usage: bench/run.sh [BUILD_DIR [CASE...]]   (default: build; binaries in BUILD_DIR/bin;
#                                              CASE... as in BENCH_CASES, e.g. `fortunes`)
#
# Environment:
#   BENCH_THREADS=2        Bennu loop threads / nginx workers / ceiling threads
#   BENCH_DURATION=10      seconds measured per case and server
#   BENCH_WARMUP=2         seconds of warm-up before each measurement (0: none)
#   BENCH_WRK_THREADS=2    wrk client threads
#   BENCH_PORT=18080       first port tried; ten free ports are picked from it
#   BENCH_RETRIES=2        re-measurements of a run during which other programs
#                          took more than 10% of the CPUs
#   BENCH_CASES="..."      space-separated subset of the cases (see all_cases;
#                          json_router_value_c256 is known but not run by default).
#                          A word that is no case name selects the cases it
#                          begins ("fortunes_mem": fortunes_mem_c64 fortunes_mem_c256,
#                          "json": the json_* ones); "fortunes_render" is the
#                          render microbenchmark alone (render_bench, no server).
#                          Any fortunes* word also runs render_bench.
#                          "db" selects the eight database cases, "pg" the
#                          *_pg ones, "sqlite" the *_sqlite ones, "ws" ws_n19000
#                          (ws_n1000 is known but not run by default).
#                          "presence_join" is presence_bench alone (needs redis-server).
#                          "pubsub_cluster" is pubsub_bench alone (needs redis-server).
#                          "live" is the LiveView case alone (live_server + liveload).
#   BENCH_BENNU_MASTER=1   run Bennu under its master (0: BENNU_MASTER=0)
#   BENCH_BENNU_CMD="..."  command standing in for bench_server; @PORT@ and
#                          @THREADS@ are replaced (e.g. "build/bin/ceiling @PORT@ @THREADS@");
#                          the router server runs it too, with BENCH_ROUTER=1
#   BENCH_NGINX=/usr/sbin/nginx
#   BENCH_KEEP_TMP=1       keep the temp dir (server logs, nginx.conf, wrk outputs)
#   BENCH_POOL_SIZE=2      db_server's PostgreSQL connections (POOL_SIZE, split
#                          between its loop threads)
#   BENCH_DB_UPDATES=batch db_server's updates: batch (one statement per request)
#                          or row (one bn_repo_update per row)
#   BENCH_PGBENCH_MODE=simple  pgbench's query mode (-M): simple (the default,
#                          as `pgbench -S` runs), extended or prepared
#   BENCH_PG_BIN=DIR       PostgreSQL's programs (pgbench, psql); default: the
#                          newest /usr/lib/postgresql/*/bin, as tools/pg_test_server.sh
#   BENCH_WS_THREADS=1     chan_server's loop threads in the ws_* cases (Node's
#                          ws_peer.mjs has one); chan_server runs without its
#                          master there (BENNU_MASTER=0: one process to measure)
#   BENCH_WS_ROUNDS=50     broadcasts measured per ws_* case and server (after 3 warm-up ones)
#   BENCH_WS_RTT_SECS=5    seconds of pings at 1,000 messages/s per ws_* case and server
#   BENCH_NODE=node        the Node.js that runs ws_peer.mjs
#   BENCH_LIVE_N=1000      the live case's views (each one WebSocket)
#   BENCH_LIVE_RATE=1000   clicks/s from all views together in the live case
#   BENCH_LIVE_SECS=5      seconds of clicks in the live case
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-build}
(($# < 2)) || BENCH_CASES="${*:2}"
threads=${BENCH_THREADS:-2}
duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-2}
wrk_threads=${BENCH_WRK_THREADS:-2}
port_base=${BENCH_PORT:-18080}
retries=${BENCH_RETRIES:-2}
bennu_master=${BENCH_BENNU_MASTER:-1}
nginx_bin=${BENCH_NGINX:-/usr/sbin/nginx}
depth=16
pool_size=${BENCH_POOL_SIZE:-2}
db_updates=${BENCH_DB_UPDATES:-batch}
pgbench_mode=${BENCH_PGBENCH_MODE:-simple}
pg_conns=64
ws_threads=${BENCH_WS_THREADS:-1}
ws_rounds=${BENCH_WS_ROUNDS:-50}
ws_rtt_secs=${BENCH_WS_RTT_SECS:-5}
node_bin=${BENCH_NODE:-node}
live_n=${BENCH_LIVE_N:-1000}
live_rate=${BENCH_LIVE_RATE:-1000}
live_secs=${BENCH_LIVE_SECS:-5}
db_cases="db_pg queries20_pg fortunes_pg updates20_pg db_sqlite queries20_sqlite fortunes_sqlite updates20_sqlite"
ws_cases="ws_n19000"
all_cases="plaintext_c64 plaintext_c256 plaintext_pipeline16_c64 plaintext_pipeline16_c256 json_c64 json_c256 json_router_c64 json_router_c256 fortunes_mem_c64 fortunes_mem_c256 $db_cases $ws_cases"
known_cases="$all_cases json_router_value_c256 ws_n1000"
servers="bennu nginx ceiling"
# A json_router_* case measures the router server too (and bennu, bare, on
# /json next to it); its BENCH line reports the router server as "bennu".
router_case() { [[ $1 == json_router_* ]]; }
# A fortunes_mem_* case measures /fortunes; its ceiling is "ceilhtml", a second
# ceiling that answers the Fortunes page's bytes, and nginx serves them as a
# static file.
fortunes_case() { [[ $1 == fortunes_mem_* ]]; }
# A database case measures db_server ("dbpg" or "dbsqlite"); a *_pg case then
# measures pgbench -S against the same PostgreSQL ("pgbench").
pg_case() { [[ $1 == *_pg ]]; }
sqlite_case() { [[ $1 == *_sqlite ]]; }
db_case() { pg_case "$1" || sqlite_case "$1"; }
# A ws_nN case runs chanload with N connections against "chan" (chan_server)
# and "wspeer" (node ws_peer.mjs), one after the other.
ws_case() { [[ $1 == ws_n* ]]; }
case_n() { echo "${1##*_n}"; }
case_servers() {
    if pg_case "$1"; then
        echo "dbpg pgbench"
    elif sqlite_case "$1"; then
        echo "dbsqlite"
    elif router_case "$1"; then
        echo "bennu router nginx ceiling"
    elif fortunes_case "$1"; then
        echo "bennu nginx ceilhtml"
    else
        echo "$servers"
    fi
}
case_main() { if router_case "$1"; then echo router; else echo bennu; fi; }
case_ceiling() { if fortunes_case "$1"; then echo ceilhtml; else echo ceiling; fi; }
case_peer() { if fortunes_case "$1"; then echo nginx-static; else echo nginx; fi; }

# BENCH_CASES: case names, or words that select every case they begin.
cases=
run_render=0
run_presence=0
run_pubsub=0
run_live=0
if [[ -z ${BENCH_CASES:-} ]]; then
    cases=$all_cases
    run_render=1
    run_presence=1
    run_pubsub=1
    run_live=1
fi
for word in ${BENCH_CASES:-}; do
    if [[ $word == live ]]; then
        run_live=1
        continue
    fi
    if [[ $word == pubsub_cluster ]]; then
        run_pubsub=1
        continue
    fi
    if [[ $word == presence_join ]]; then
        run_presence=1
        continue
    fi
    [[ $word != fortunes* ]] || run_render=1
    [[ $word != fortunes_render ]] || continue
    case $word in
    db) cases+=" $db_cases"; continue ;;
    ws) cases+=" $ws_cases"; continue ;;
    pg | sqlite)
        for c in $db_cases; do [[ $c != *_"$word" ]] || cases+=" $c"; done
        continue
        ;;
    esac
    if [[ " $known_cases " == *" $word "* ]]; then
        cases+=" $word"
        continue
    fi
    found=0
    for c in $all_cases; do
        if [[ $c == "$word"* ]]; then
            cases+=" $c"
            found=1
        fi
    done
    ((found)) || die_early=$word
done
need_router=0 need_fortunes=0 need_web=0 need_pg=0 need_sqlite=0 need_page=0 need_ws=0
for c in $cases; do
    if router_case "$c"; then need_router=1; fi
    if fortunes_case "$c"; then need_fortunes=1; fi
    if pg_case "$c"; then need_pg=1; fi
    if sqlite_case "$c"; then need_sqlite=1; fi
    if ws_case "$c"; then need_ws=1; fi
    if ! db_case "$c" && ! ws_case "$c"; then need_web=1; fi
    # The page /fortunes must send: the fortunes cases and db_server's check.
    if [[ $c == fortunes_* ]] || db_case "$c"; then need_page=1; fi
done

log() { printf '# %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

for tool in curl timeout setsid awk ps getconf; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
if ((need_web || need_pg || need_sqlite)); then
    command -v wrk >/dev/null || die "wrk is not installed"
fi
[[ -z ${die_early:-} ]] || die "unknown case '$die_early' (known: $known_cases fortunes_render, live, db, pg, sqlite, ws, or a prefix of them)"
[[ -n $cases || $run_render == 1 || $run_presence == 1 || $run_pubsub == 1 || $run_live == 1 ]] || die "no case selected"
if ((need_web)); then
    [[ -x $nginx_bin ]] || die "nginx not found at $nginx_bin (set BENCH_NGINX)"
    [[ -x $build/bin/ceiling ]] || die "$build/bin/ceiling not built (cmake --build $build --target ceiling)"
fi
if ((need_page || run_render)) && [[ ! -x $build/bin/render_bench ]]; then
    die "$build/bin/render_bench not built (cmake --build $build --target render_bench)"
fi
if ((run_presence)); then
    [[ -x $build/bin/presence_bench ]] || die "$build/bin/presence_bench not built (cmake --build $build --target presence_bench)"
    command -v redis-server >/dev/null || die "redis-server is not installed (tools/deps.sh)"
fi
if ((run_pubsub)); then
    [[ -x $build/bin/pubsub_bench ]] || die "$build/bin/pubsub_bench not built (cmake --build $build --target pubsub_bench)"
    command -v redis-server >/dev/null || die "redis-server is not installed (tools/deps.sh)"
fi
if ((run_live)); then
    for b in live_server liveload; do
        [[ -x $build/bin/$b ]] || die "$build/bin/$b not built (cmake --build $build --target $b)"
    done
fi
if ((need_web)) && [[ -z ${BENCH_BENNU_CMD:-} && ! -x $build/bin/bench_server ]]; then
    die "$build/bin/bench_server not built (cmake --build $build --target bench_server)"
fi
if ((need_pg || need_sqlite)); then
    [[ -x $build/bin/db_server ]] || die "$build/bin/db_server not built (cmake --build $build --target db_server)"
    command -v jq >/dev/null || die "jq is not installed (tools/deps.sh bench)"
    [[ $db_updates == batch || $db_updates == row ]] || die "BENCH_DB_UPDATES is batch or row, not '$db_updates'"
    [[ $pgbench_mode == simple || $pgbench_mode == extended || $pgbench_mode == prepared ]] ||
        die "BENCH_PGBENCH_MODE is simple, extended or prepared, not '$pgbench_mode'"
fi
if ((need_sqlite)); then
    command -v sqlite3 >/dev/null || die "sqlite3 is not installed (tools/deps.sh bench)"
fi
pg_bin=
if ((need_pg)); then
    pg_bin=${BENCH_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)}
    [[ -x $pg_bin/pgbench && -x $pg_bin/psql ]] ||
        die "pgbench and psql not found in '${pg_bin:-/usr/lib/postgresql/*/bin}' (tools/deps.sh installs postgresql; or set BENCH_PG_BIN)"
fi
if ((need_ws)); then
    for b in chan_server chanload; do
        [[ -x $build/bin/$b ]] || die "$build/bin/$b not built (cmake --build $build --target $b)"
    done
    command -v "$node_bin" >/dev/null || die "node is not installed (tools/deps.sh bench; or set BENCH_NODE)"
    [[ -f $here/node_modules/ws/package.json ]] ||
        die "the npm ws package is missing: run 'npm ci' in $here (tools/deps.sh bench)"
fi
for c in $cases; do
    [[ " $known_cases " == *" $c "* ]] || die "unknown case '$c' (known: $known_cases)"
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# A ws_nN server holds N sockets in one process (chanload spreads its own).
for c in $cases; do
    ! ws_case "$c" || (($(case_n "$c") + 100 <= $(ulimit -n))) ||
        die "$c: $(case_n "$c") connections need more open files than allowed here" \
            "($(ulimit -n), hard limit $(ulimit -Hn))"
done
clk_tck=$(getconf CLK_TCK)

# --------------------------------------------------------------------------
# Servers: each runs in its own process group, so that stopping it reaches
# every process it forked (nginx workers, Bennu's worker).

tmp=$(mktemp -d /tmp/bennu-bench.XXXXXX)
declare -A server_pid=() server_port=()
wrk_pid= pgbench_pid= chanload_pid=
pg_dir= pg_url= pg_port= pg_user= pg_postmaster= pg_data=

# True while a process of group PGID is alive (zombies do not count).
group_alive() {
    ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

stop_server() {
    local name=$1 pid=${server_pid[$1]:-} i
    [[ -n $pid ]] || return 0
    kill -TERM -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        group_alive "$pid" || break
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "server_pid[$name]"
}

# PostgreSQL for the *_pg cases: tools/pg_test_server.sh in $tmp/pg (its data
# may live in a /tmp/bennu-pg.* folder of its own, recorded in $tmp/pg/home).
start_postgres() {
    pg_dir=$tmp/pg
    pg_url=$("$here/../tools/pg_test_server.sh" start "$pg_dir") || die "PostgreSQL did not start"
    [[ -n $pg_url ]] || die "PostgreSQL is not installed (tools/deps.sh installs it)"
    # postgres://USER@127.0.0.1:PORT/bennu_test
    pg_user=${pg_url#postgres://}
    pg_user=${pg_user%%@*}
    pg_port=${pg_url##*:}
    pg_port=${pg_port%%/*}
    local home=$pg_dir
    [[ ! -f $pg_dir/home ]] || home=$(cat "$pg_dir/home")
    pg_data=$home/data
    pg_postmaster=$(head -n1 "$pg_data/postmaster.pid" 2>/dev/null || true)
    [[ -n $pg_postmaster ]] || die "no postmaster.pid in $pg_data"
    log "postgresql $("$pg_bin/postgres" --version | awk '{ print $3 }') is up at $pg_url (postmaster $pg_postmaster)"
    # pgbench's own database, as `pgbench -i -s 1` makes it (100,000 accounts).
    pg_psql postgres -c "CREATE DATABASE pgbench" || die "cannot create the pgbench database"
    timeout 120 "$pg_bin/pgbench" -i -s 1 -q -h 127.0.0.1 -p "$pg_port" -U "$pg_user" pgbench >"$tmp/pgbench-init.log" 2>&1 ||
        { cat "$tmp/pgbench-init.log" >&2; die "pgbench -i failed"; }
}

pg_psql() {
    local db=$1
    shift
    PGOPTIONS="-c client_min_messages=warning" timeout 60 "$pg_bin/psql" -X -q -At -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$pg_port" -U "$pg_user" -d "$db" "$@"
}

stop_postgres() {
    [[ -n $pg_dir && -d $pg_dir ]] || return 0
    local home=
    [[ ! -f $pg_dir/home ]] || home=$(cat "$pg_dir/home")
    "$here/../tools/pg_test_server.sh" stop "$pg_dir" --force >/dev/null 2>&1 || true
    # Its data folder outside $tmp, if it made one (only ever a /tmp/bennu-pg.* one).
    [[ $home != /tmp/bennu-pg.* || ! -d $home ]] || rm -rf "$home"
    pg_dir=
}

cleanup() {
    local name
    [[ -z $wrk_pid ]] || kill -TERM "$wrk_pid" 2>/dev/null || true
    [[ -z $pgbench_pid ]] || kill -TERM "$pgbench_pid" 2>/dev/null || true
    [[ -z $chanload_pid ]] || kill -TERM "$chanload_pid" 2>/dev/null || true
    for name in "${!server_pid[@]}"; do stop_server "$name"; done
    stop_postgres
    if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then
        log "temp files kept in $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port is free if nothing uses it and nothing answers a connect.
port_free() {
    if command -v ss >/dev/null; then
        [[ -z $(ss -Htan "sport = :$1" 2>/dev/null) ]] || return 1
    fi
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start_server NAME PORT PROBE CMD... — starts CMD as the leader of a new
# process group and waits until GET PROBE (a path) answers 200.
start_server() {
    local name=$1 port=$2 probe=$3 pgid i
    shift 3
    setsid "$@" >"$tmp/$name.log" 2>&1 &
    server_pid[$name]=$!
    server_port[$name]=$port
    # stop_server signals the whole group: it must be the server's own.
    for ((i = 0; i < 50; i++)); do
        pgid=$(ps -o pgid= -p "${server_pid[$name]}" | tr -d " " || true)
        [[ $pgid != "${server_pid[$name]}" ]] || break
        sleep 0.02
    done
    if [[ $pgid != "${server_pid[$name]}" ]]; then
        kill -TERM "${server_pid[$name]}" 2>/dev/null || true
        unset "server_pid[$name]"
        die "$name did not get its own process group (pgid '$pgid')"
    fi
    for ((i = 0; i < 150; i++)); do
        if ! kill -0 "${server_pid[$name]}" 2>/dev/null; then
            cat "$tmp/$name.log" >&2
            die "$name exited during start-up"
        fi
        if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
            "http://127.0.0.1:$port$probe" 2>/dev/null || true) == 200 ]]; then
            log "$name is up on 127.0.0.1:$port (pid ${server_pid[$name]})"
            return 0
        fi
        sleep 0.1
    done
    cat "$tmp/$name.log" >&2
    die "$name did not answer on 127.0.0.1:$port within 15 s"
}

# The pids of a server: the group leader we started and all its descendants.
server_pids() { [[ -z ${server_pid[$1]:-} ]] || tree_pids "${server_pid[$1]}"; }

# ROOT and all its descendants.
tree_pids() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2; all[NR] = $1 }
        END {
            for (i in all) {
                p = all[i]
                for (q = p; q != "" && q != 0 && q != 1; q = parent[q])
                    if (q == root) { print p; break }
            }
        }'
}

# Peak RSS (VmHWM) summed over the server's processes (the threads of a
# process share its memory, so each process counts once).
server_rss_kib() {
    local total=0 pid kib
    for pid in $(server_pids "$1"); do
        kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
        total=$((total + ${kib:-0}))
    done
    echo "$total"
}

# CPU time (user + system, clock ticks) used so far by the server's processes,
# including children that ended and were reaped by the group leader (a crashed
# Bennu worker, whose time would otherwise vanish from the sum).
server_cpu_ticks() {
    local live reaped
    [[ -n ${server_pid[$1]:-} ]] || { echo 0; return; }
    live=$(pids_cpu_ticks $(server_pids "$1"))
    reaped=$(sed 's/.*) //' "/proc/${server_pid[$1]}/stat" 2>/dev/null | awk '{ print $14 + $15 }' || true)
    echo $((live + ${reaped:-0}))
}

# CPU time (clock ticks) used so far by PostgreSQL: the postmaster and every
# live backend, plus the backends that ended (pgbench's close at the end of a
# run), which the postmaster reaped into its children's time (0 when no
# server runs).
postgres_cpu_ticks() {
    local pid live reaped
    [[ -n $pg_postmaster ]] || { echo 0; return; }
    pid=$pg_postmaster
    live=$(pids_cpu_ticks $(tree_pids "$pid"))
    reaped=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $14 + $15 }' || true)
    echo $((live + ${reaped:-0}))
}

pids_cpu_ticks() {
    local total=0 pid t
    for pid in "$@"; do
        t=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }' || true)
        total=$((total + ${t:-0}))
    done
    echo "$total"
}

# CPU time (clock ticks) of this script's finished children: wrk, mostly.
client_cpu_ticks() { sed 's/.*) //' "/proc/$$/stat" | awk '{ print $14 + $15 }'; }

# "BUSY TOTAL" clock ticks of all CPUs from /proc/stat (busy = not idle/iowait).
machine_ticks() {
    awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat
}

# check_response NAME PATH BODY TYPE STRICT [HEADER] — one curl, checked the
# way TechEmpower's validator would (status, body, Content-Type, Server, Date),
# and for HEADER ("name: value") that the response carries it.
check_response() {
    local name=$1 path=$2 body=$3 type=$4 strict=$5 extra=${6:-}
    local head got problems=()
    got=$(curl -s --max-time 5 -D "$tmp/head" "http://127.0.0.1:${server_port[$name]}$path" || true)
    head=$(tr -d '\r' <"$tmp/head" 2>/dev/null || true)
    [[ $(head -n1 <<<"$head") == "HTTP/1.1 200"* ]] || problems+=("status: $(head -n1 <<<"$head")")
    [[ $got == "$body" ]] || problems+=("body: '$got'")
    grep -qi "^content-type: *$type" <<<"$head" || problems+=("no Content-Type: $type")
    grep -qi '^server:' <<<"$head" || problems+=("no Server header")
    grep -qi '^date:' <<<"$head" || problems+=("no Date header")
    [[ -z $extra ]] || grep -qix "$extra" <<<"$head" || problems+=("no '$extra' header")
    if ((${#problems[@]})); then
        local msg="$name $path: ${problems[*]}"
        [[ $strict == 1 ]] && die "$msg"
        echo "WARN $msg"
    fi
}

# check_page NAME PATH FILE TYPE STRICT — like check_response, for a body that
# must be byte for byte the content of FILE (the Fortunes page).
check_page() {
    local name=$1 path=$2 file=$3 type=$4 strict=$5
    local head problems=()
    curl -s --max-time 5 -D "$tmp/head" -o "$tmp/page.$name" "http://127.0.0.1:${server_port[$name]}$path" || true
    head=$(tr -d '\r' <"$tmp/head" 2>/dev/null || true)
    [[ $(head -n1 <<<"$head") == "HTTP/1.1 200"* ]] || problems+=("status: $(head -n1 <<<"$head")")
    if ! cmp -s "$tmp/page.$name" "$file"; then
        local diff
        diff=$(cmp "$tmp/page.$name" "$file" 2>&1 | head -n1 || true)
        problems+=("body differs from $(basename "$file"): $diff")
    fi
    grep -qix "content-type: *$type" <<<"$head" || problems+=("no Content-Type: $type")
    grep -qi '^server:' <<<"$head" || problems+=("no Server header")
    grep -qi '^date:' <<<"$head" || problems+=("no Date header")
    if ((${#problems[@]})); then
        local msg="$name $path: ${problems[*]}"
        [[ $strict == 1 ]] && die "$msg"
        echo "WARN $msg"
    fi
}

# check_fortunes_page FILE — the page render_bench writes, checked against
# TechEmpower's validator: 13 rows in its order of ids (sorted by message, the
# request's fortune 0 among them), the <script> escaped, the UTF-8 intact.
check_fortunes_page() {
    local file=$1 ids
    ids=$(grep -o '<tr><td>[0-9]*</td>' "$file" | tr -dc '0-9\n' | paste -sd' ')
    [[ $ids == "11 4 5 2 8 0 3 7 10 6 9 1 12" ]] || die "$file: rows in the order '$ids', not TechEmpower's"
    grep -q '^<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>' "$file" ||
        die "$file: not the Fortunes page's head"
    grep -q '</table></body></html>$' "$file" || die "$file: not the Fortunes page's end"
    grep -q '&lt;script&gt;alert(&quot;This should not be displayed in a browser alert box.&quot;);&lt;/script&gt;' "$file" ||
        die "$file: the <script> fortune is not escaped as expected"
    ! grep -q '<script>' "$file" || die "$file: an unescaped <script>"
    grep -q 'フレームワークのベンチマーク' "$file" || die "$file: the Japanese fortune is missing or mangled"
    grep -q 'UNIX. — Tom Christaensen' "$file" || die "$file: the em dash is missing or mangled"
}

# db_get NAME PATH — the body of a GET that must answer 200 with JSON, Server
# and Date (TechEmpower's checks of the db, queries and updates tests); the
# problems go to db_problems.
db_problems=()
db_get() {
    local name=$1 path=$2 head body
    body=$(curl -s --max-time 10 -D "$tmp/head" "http://127.0.0.1:${server_port[$name]}$path" || true)
    head=$(tr -d '\r' <"$tmp/head" 2>/dev/null || true)
    [[ $(head -n1 <<<"$head") == "HTTP/1.1 200"* ]] || db_problems+=("$path: status $(head -n1 <<<"$head")")
    grep -qi '^content-type: *application/json' <<<"$head" || db_problems+=("$path: no Content-Type: application/json")
    grep -qi '^server:' <<<"$head" || db_problems+=("$path: no Server header")
    grep -qi '^date:' <<<"$head" || db_problems+=("$path: no Date header")
    printf '%s' "$body"
}

# A World row as TechEmpower wants it: exactly the keys id and randomNumber,
# integers in 1..10000 (jq: true or false).
jq_world='type == "object" and (keys == ["id", "randomNumber"])
    and (.id | type == "number" and . == floor and . >= 1 and . <= 10000)
    and (.randomNumber | type == "number" and . == floor and . >= 1 and . <= 10000)'

# db_json NAME PATH N — PATH must answer a JSON array of N World rows (N 0: one object).
db_json() {
    local name=$1 path=$2 n=$3 body
    body=$(db_get "$name" "$path")
    if ((n == 0)); then
        jq -e "$jq_world" >/dev/null 2>&1 <<<"$body" || db_problems+=("$path: not one World row: '${body:0:200}'")
    else
        jq -e --argjson n "$n" "type == \"array\" and length == \$n and all(.[]; $jq_world)" >/dev/null 2>&1 <<<"$body" ||
            db_problems+=("$path: not an array of $n World rows: '${body:0:200}'")
    fi
    printf '%s' "$body"
}

# db_value NAME ID — world.randomnumber of row ID, read by the database's own client.
db_value() {
    if [[ $1 == dbpg ]]; then
        pg_psql bennu_test -c "SELECT randomnumber FROM world WHERE id = $2"
    else
        sqlite3 "$sqlite_file" "SELECT randomnumber FROM world WHERE id = $2"
    fi
}

# check_db NAME — db_server's four endpoints before measuring: /db and
# /queries answer valid World rows (queries clamped to 1..500, 1 when not a
# number), /updates answers N rows whose new numbers are in the database
# afterwards, /fortunes is byte for byte the page of render_bench --page
# (13 rows sorted by message, escaped), checked against TechEmpower's order.
check_db() {
    local name=$1 body id want got rows
    db_problems=()
    db_json "$name" /db 0 >/dev/null
    db_json "$name" "/queries?queries=20" 20 >/dev/null
    db_json "$name" /queries 1 >/dev/null
    db_json "$name" "/queries?queries=foo" 1 >/dev/null
    db_json "$name" "/queries?queries=0" 1 >/dev/null
    db_json "$name" "/queries?queries=501" 500 >/dev/null
    db_json "$name" "/updates?queries=foo" 1 >/dev/null
    body=$(db_json "$name" "/updates?queries=20" 20)
    # Every row the request named once must hold its new number now.
    rows=$(jq -r 'group_by(.id)[] | select(length == 1) | .[0] | "\(.id) \(.randomNumber)"' <<<"$body" 2>/dev/null || true)
    [[ -n $rows ]] || db_problems+=("/updates?queries=20: no row to check")
    while read -r id want; do
        [[ -n $id ]] || continue
        got=$(db_value "$name" "$id" || true)
        [[ $got == "$want" ]] || db_problems+=("/updates: row $id holds '$got' after the update, not $want")
    done <<<"$rows"
    if ((${#db_problems[@]})); then
        die "$name: ${db_problems[*]}"
    fi
    check_page "$name" /fortunes "$tmp/fortunes.html" 'text/html; charset=utf-8' 1
    log "$name: /db, /queries, /updates and /fortunes answer correctly"
}

# --------------------------------------------------------------------------
# wrk

# run_wrk OUT PORT PATH CONNS DEPTH SECONDS — one wrk run, output to OUT.
run_wrk() {
    local out=$1 port=$2 path=$3 conns=$4 pipe=$5 secs=$6
    local accept='text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7'
    [[ $path == */json* || $path == /db || $path == /queries* || $path == /updates* ]] &&
        accept='application/json,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7'
    [[ $path == /fortunes ]] && accept='text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'
    local args=(-t "$wrk_threads" -c "$conns" -d "${secs}s" --latency --timeout 5s
        -H "Accept: $accept" -H "Connection: keep-alive")
    if ((pipe > 1)); then
        args+=(-s "$here/pipeline.lua" "http://127.0.0.1:$port$path" -- "$pipe")
    else
        args+=("http://127.0.0.1:$port$path")
    fi
    # In the background, so that a signal to the script is handled at once.
    timeout --kill-after=5 $((secs + 30)) wrk "${args[@]}" >"$out" 2>&1 &
    wrk_pid=$!
    if ! wait "$wrk_pid"; then
        wrk_pid=
        cat "$out" >&2
        die "wrk failed: wrk ${args[*]}"
    fi
    wrk_pid=
}

# Requests/sec, rounded.
wrk_rps() { awk '/^Requests\/sec:/ { printf "%d\n", $2 + 0.5; found = 1 } END { if (!found) print 0 }' "$1"; }

# 99th percentile latency in ms (wrk prints us, ms, s, m or h).
wrk_p99_ms() {
    awk '$1 == "99%" && !done {
            v = $2; n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
            f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
            if (f < 0) { print "nan" } else { printf "%.3f\n", n * f }
            done = 1
         }
         END { if (!done) print "nan" }' "$1"
}

declare -A rps=() p99=() cpu_us=() others_pct=() db_us=() client_us=() avg_ms=() crashes=()

# case_path CASE [SERVER] — in a router case, bare bennu is measured on /json.
case_path() {
    case $1 in
    json_router_value_*) [[ ${2:-} == bennu ]] && echo /json || echo /api/json_value ;;
    json_router_*) [[ ${2:-} == bennu ]] && echo /json || echo /api/json ;;
    json_*) echo /json ;;
    fortunes_*) echo /fortunes ;;
    db_*) echo /db ;;
    queries20_*) echo "/queries?queries=20" ;;
    updates20_*) echo "/updates?queries=20" ;;
    *) echo /plaintext ;;
    esac
}
case_conns() { if db_case "$1"; then echo "$pg_conns"; else echo "${1##*_c}"; fi; }
# Statements db_server sends to the database per request of a case.
case_statements() {
    case $1 in
    queries20_*) echo 20 ;;
    updates20_*) [[ $db_updates == batch ]] && echo 21 || echo 40 ;;
    *) echo 1 ;;
    esac
}
case_depth() { [[ $1 == *pipeline16* ]] && echo "$depth" || echo 1; }

# measure NAME CASE — warm-up, then the measured run; records req/s, p99,
# the server's CPU time per request and how much CPU other programs took.
measure() {
    local name=$1 case=$2 port=${server_port[$1]}
    local path conns pipe out
    path=$(case_path "$case" "$name")
    conns=$(case_conns "$case")
    pipe=$(case_depth "$case")
    out="$tmp/wrk.$name.$case.txt"
    if ((warmup > 0)); then
        run_wrk "$out.warmup" "$port" "$path" "$conns" "$pipe" "$warmup"
    fi
    local s0 s1 c0 c1 m0 m1 d0 d1 nreq crashed0
    crashed0=$(grep -c 'caught signal' "$tmp/$name.log" 2>/dev/null || true)
    m0=$(machine_ticks)
    s0=$(server_cpu_ticks "$name")
    c0=$(client_cpu_ticks)
    d0=$(postgres_cpu_ticks)
    run_wrk "$out" "$port" "$path" "$conns" "$pipe" "$duration"
    d1=$(postgres_cpu_ticks)
    c1=$(client_cpu_ticks)
    s1=$(server_cpu_ticks "$name")
    m1=$(machine_ticks)
    rps[$name:$case]=$(wrk_rps "$out")
    p99[$name:$case]=$(wrk_p99_ms "$out")
    nreq=$(awk '/ requests in / { print $1; exit }' "$out")
    cpu_us[$name:$case]=$(per_request $((s1 - s0)) "${nreq:-0}")
    # The database's CPU (PostgreSQL's processes; SQLite runs inside the server)
    # and wrk's, per request.
    db_us[$name:$case]=$(per_request $((d1 - d0)) "${nreq:-0}")
    client_us[$name:$case]=$(per_request $((c1 - c0)) "${nreq:-0}")
    avg_ms[$name:$case]=$(wrk_avg_ms "$out")
    # Busy CPU not spent in this server, in wrk or in PostgreSQL: other programs
    # (or the kernel on their behalf). Above a few percent the numbers are not comparable.
    others_pct[$name:$case]=$(awk -v m0="$m0" -v m1="$m1" -v s=$((s1 - s0 + d1 - d0)) -v c=$((c1 - c0)) 'BEGIN {
        split(m0, a, " "); split(m1, b, " "); total = b[2] - a[2]
        o = (b[1] - a[1]) - s - c; if (o < 0) o = 0
        printf "%d\n", (total > 0) ? 100 * o / total : 0 }')
    local errs non2xx
    errs=$(awk '/^  Socket errors:/ { sub(/^  Socket errors: /, ""); print }' "$out")
    non2xx=$(awk '/^  Non-2xx or 3xx responses:/ { print $NF }' "$out")
    [[ -z $errs ]] || echo "WARN $name $case socket errors: $errs"
    [[ -z $non2xx ]] || echo "WARN $name $case non-2xx responses: $non2xx"
    # A crashed worker is replaced by the master; its run's numbers are not Bennu's.
    local crashed1
    crashed1=$(grep -c 'caught signal' "$tmp/$name.log" 2>/dev/null || true)
    crashes[$name:$case]=$((${crashed1:-0} - ${crashed0:-0}))
    if ((crashes[$name:$case] > 0)); then
        echo "WARN $name $case: the server crashed ${crashes[$name:$case]} times during the measured run; its crash reports so far:"
        grep -m 8 -A3 'caught signal' "$tmp/$name.log" | sed 's/^/WARN   /'
    fi
    log "$name $case: ${rps[$name:$case]} req/s, p99 ${p99[$name:$case]} ms," \
        "server cpu ${cpu_us[$name:$case]} us/req$(pg_case "$case" && echo ", postgres cpu ${db_us[$name:$case]} us/req")," \
        "others ${others_pct[$name:$case]}% cpu"
}

# ticks → µs per request (or per transaction).
per_request() {
    awk -v t="$1" -v hz="$clk_tck" -v n="$2" 'BEGIN { if (n > 0) printf "%.2f\n", t / hz * 1e6 / n; else print "nan" }'
}

# wrk's average latency (Thread Stats) in ms.
wrk_avg_ms() {
    awk '$1 == "Latency" && !done {
            v = $2; n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
            f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
            if (f < 0) { print "nan" } else { printf "%.3f\n", n * f }
            done = 1
         }
         END { if (!done) print "nan" }' "$1"
}

# run_pgbench OUT SECONDS — pgbench -S (one SELECT by primary key per
# transaction) with as many connections as wrk has, against the same server.
run_pgbench() {
    local out=$1 secs=$2
    local args=(-S -M "$pgbench_mode" -c "$pg_conns" -j "$wrk_threads" -T "$secs" -h 127.0.0.1 -p "$pg_port"
        -U "$pg_user" pgbench)
    timeout --kill-after=5 $((secs + 60)) "$pg_bin/pgbench" "${args[@]}" >"$out" 2>&1 &
    pgbench_pid=$!
    if ! wait "$pgbench_pid"; then
        pgbench_pid=
        cat "$out" >&2
        die "pgbench failed: pgbench ${args[*]}"
    fi
    pgbench_pid=
}

# measure_pgbench CASE — the peer of a *_pg case: warm-up, then the measured
# run; tps, PostgreSQL's and pgbench's CPU per transaction.
measure_pgbench() {
    local case=$1 out="$tmp/pgbench.$1.txt" m0 m1 c0 c1 d0 d1 ntx
    ((warmup <= 0)) || run_pgbench "$out.warmup" "$warmup"
    m0=$(machine_ticks)
    c0=$(client_cpu_ticks)
    d0=$(postgres_cpu_ticks)
    run_pgbench "$out" "$duration"
    d1=$(postgres_cpu_ticks)
    c1=$(client_cpu_ticks)
    m1=$(machine_ticks)
    rps[pgbench:$case]=$(awk '/^tps = / { printf "%d\n", $3 + 0.5; found = 1; exit } END { if (!found) print 0 }' "$out")
    avg_ms[pgbench:$case]=$(awk '/^latency average = / { print $4; found = 1; exit } END { if (!found) print "nan" }' "$out")
    p99[pgbench:$case]=nan
    ntx=$(awk '/^number of transactions actually processed: / { print $6; exit }' "$out")
    ntx=${ntx%%/*}
    cpu_us[pgbench:$case]=$(per_request $((d1 - d0)) "${ntx:-0}")
    db_us[pgbench:$case]=${cpu_us[pgbench:$case]}
    client_us[pgbench:$case]=$(per_request $((c1 - c0)) "${ntx:-0}")
    crashes[pgbench:$case]=0
    others_pct[pgbench:$case]=$(awk -v m0="$m0" -v m1="$m1" -v s=$((d1 - d0)) -v c=$((c1 - c0)) 'BEGIN {
        split(m0, a, " "); split(m1, b, " "); total = b[2] - a[2]
        o = (b[1] - a[1]) - s - c; if (o < 0) o = 0
        printf "%d\n", (total > 0) ? 100 * o / total : 0 }')
    grep -q '^number of failed transactions: 0 ' "$out" || ! grep -q '^number of failed transactions' "$out" ||
        echo "WARN pgbench $case: $(grep '^number of failed transactions' "$out")"
    log "pgbench $case: ${rps[pgbench:$case]} tps, latency avg ${avg_ms[pgbench:$case]} ms," \
        "postgres cpu ${cpu_us[pgbench:$case]} us/txn, pgbench cpu ${client_us[pgbench:$case]} us/txn," \
        "others ${others_pct[pgbench:$case]}% cpu"
}

# measure_quiet NAME CASE — measure, again (up to BENCH_RETRIES times) while
# other programs took more than 10% of the CPUs; the last run counts.
measure_quiet() {
    local name=$1 case=$2 try
    for ((try = 0; ; try++)); do
        if [[ $name == pgbench ]]; then measure_pgbench "$case"; else measure "$name" "$case"; fi
        ((${others_pct[$name:$case]} > 10)) || return 0
        ((try < retries)) || break
        log "$name $case: other programs were busy, measuring again"
        sleep 2
    done
    echo "WARN $name $case: other programs used ${others_pct[$name:$case]}% of the CPUs during the run; its numbers are low"
}

# --------------------------------------------------------------------------
# chanload (the ws_* cases)

declare -A ws=()

# CPU time (clock ticks) of the kernel's ksoftirqd threads: loopback traffic's
# receive work that overflows from the sender's system calls lands there, so
# in the ws_* cases it is the run's own work, not other programs'.
softirq_ticks() { pids_cpu_ticks $(ps -e -o pid=,comm= | awk '$2 ~ /^ksoftirqd/ { print $1 }'); }

# ws_value FILE MEASURE KEY — KEY's value in chanload's "BENCH MEASURE k=v ..." line.
ws_value() {
    awk -v m="$2" -v k="$3" '$1 == "BENCH" && $2 == m {
            for (i = 3; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); found = 1; exit }
         }
         END { if (!found) print "nan" }' "$1"
}

# measure_ws NAME CASE — starts NAME ("chan": chan_server, one process with
# BENCH_WS_THREADS loop threads; "wspeer": node ws_peer.mjs), runs chanload
# with the case's N connections against it, stops it, and records the join
# rate, the server's memory per idle connection, fan-out and round-trip times.
measure_ws() {
    local name=$1 case=$2 n port out m0 m1 s0 s1 c0 c1 k0 k1
    n=$(case_n "$case")
    if [[ $name == chan ]]; then
        port=${ports[7]}
        start_server chan "$port" / env PORT="$port" BENNU_BIND=127.0.0.1 BENNU_THREADS="$ws_threads" \
            BENNU_MASTER=0 BENNU_DRAIN_TIMEOUT_MS=1000 "$build/bin/chan_server"
    else
        port=${ports[8]}
        start_server wspeer "$port" / env PORT="$port" "$node_bin" "$here/ws_peer.mjs"
    fi
    out="$tmp/chanload.$name.$case.txt"
    m0=$(machine_ticks)
    s0=$(server_cpu_ticks "$name")
    c0=$(client_cpu_ticks)
    k0=$(softirq_ticks)
    # In the background, so that a signal to the script is handled at once.
    timeout --kill-after=5 900 "$build/bin/chanload" --port "$port" --server-pid "${server_pid[$name]}" -n "$n" \
        --rounds "$ws_rounds" --rtt-secs "$ws_rtt_secs" >"$out" 2>"$out.err" &
    chanload_pid=$!
    if ! wait "$chanload_pid"; then
        chanload_pid=
        cat "$out" "$out.err" >&2
        tail -n 20 "$tmp/$name.log" >&2
        die "chanload against $name failed (its output above, then the server's log)"
    fi
    chanload_pid=
    k1=$(softirq_ticks)
    c1=$(client_cpu_ticks)
    s1=$(server_cpu_ticks "$name")
    m1=$(machine_ticks)
    stop_server "$name"
    ws[$name:$case:join]=$(ws_value "$out" ws_join joins_per_s)
    ws[$name:$case:mem]=$(ws_value "$out" ws_idle_mem bytes_per_conn)
    ws[$name:$case:fan50]=$(ws_value "$out" ws_fanout p50_ms)
    ws[$name:$case:fan99]=$(ws_value "$out" ws_fanout p99_ms)
    ws[$name:$case:fancpu]=$(ws_value "$out" ws_fanout server_cpu_ms)
    ws[$name:$case:rtt50]=$(ws_value "$out" ws_rtt p50_ms)
    ws[$name:$case:rtt99]=$(ws_value "$out" ws_rtt p99_ms)
    ws[$name:$case:cpu_s]=$(awk -v t=$((s1 - s0)) -v hz="$clk_tck" 'BEGIN { printf "%.1f\n", t / hz }')
    others_pct[$name:$case]=$(awk -v m0="$m0" -v m1="$m1" -v s=$((s1 - s0 + k1 - k0)) -v c=$((c1 - c0)) 'BEGIN {
        split(m0, a, " "); split(m1, b, " "); total = b[2] - a[2]
        o = (b[1] - a[1]) - s - c; if (o < 0) o = 0
        printf "%d\n", (total > 0) ? 100 * o / total : 0 }')
    if ((${others_pct[$name:$case]} > 10)); then
        echo "WARN $name $case: other programs used ${others_pct[$name:$case]}% of the CPUs during the run"
    fi
    log "$name $case: ${ws[$name:$case:join]} joins/s, ${ws[$name:$case:mem]} B per idle connection," \
        "fan-out p50/p99 ${ws[$name:$case:fan50]}/${ws[$name:$case:fan99]} ms" \
        "(server cpu ${ws[$name:$case:fancpu]} ms per broadcast)," \
        "rtt p50/p99 ${ws[$name:$case:rtt50]}/${ws[$name:$case:rtt99]} ms, server cpu ${ws[$name:$case:cpu_s]} s," \
        "others ${others_pct[$name:$case]}% cpu"
}

# measure_live — the live case: live_server (one loop thread, no master) on
# ports[9], liveload's N views against it; its BENCH lines in $tmp/liveload.txt.
measure_live() {
    local port=${ports[9]} out=$tmp/liveload.txt m0 m1 s0 s1 c0 c1
    start_server live "$port" / env PORT="$port" BENNU_BIND=127.0.0.1 BENNU_THREADS=1 BENNU_MASTER=0 \
        BENNU_DRAIN_TIMEOUT_MS=1000 "$build/bin/live_server"
    log "liveload: $live_n views of /counter joined, idle, then clicking at $live_rate/s for ${live_secs}s"
    m0=$(machine_ticks)
    s0=$(server_cpu_ticks live)
    c0=$(client_cpu_ticks)
    timeout --kill-after=5 300 "$build/bin/liveload" --port "$port" --server-pid "${server_pid[live]}" \
        -n "$live_n" --rate "$live_rate" --secs "$live_secs" >"$out" 2>"$out.err" &
    chanload_pid=$!
    if ! wait "$chanload_pid"; then
        chanload_pid=
        cat "$out" "$out.err" >&2
        tail -n 20 "$tmp/live.log" >&2
        die "liveload against live_server failed (its output above, then the server's log)"
    fi
    chanload_pid=
    c1=$(client_cpu_ticks)
    s1=$(server_cpu_ticks live)
    m1=$(machine_ticks)
    stop_server live
    others_pct[live]=$(awk -v m0="$m0" -v m1="$m1" -v s=$((s1 - s0)) -v c=$((c1 - c0)) 'BEGIN {
        split(m0, a, " "); split(m1, b, " "); total = b[2] - a[2]
        o = (b[1] - a[1]) - s - c; if (o < 0) o = 0
        printf "%d\n", (total > 0) ? 100 * o / total : 0 }')
    if ((${others_pct[live]} > 10)); then
        echo "WARN live: other programs used ${others_pct[live]}% of the CPUs during the run"
    fi
    log "live: $(grep -h '^BENCH' "$out" | sed 's/^BENCH //' | tr '\n' ';') others ${others_pct[live]}% cpu"
}

# live_report — liveload's BENCH lines, then the issue's target (at most 8 KiB
# per idle view) and what has no target yet.
live_report() {
    local out=$tmp/liveload.txt mem ok
    grep '^BENCH' "$out"
    mem=$(ws_value "$out" live_mem bytes_per_view)
    ok=$(awk -v v="$mem" 'BEGIN { print (v != "nan" && v + 0 <= 8192) ? "ok" : "MISSED" }')
    ((${others_pct[live]} <= 10)) || ok+=" (noisy)"
    echo "LIVE bytes_per_view=$mem target<=8192 $ok; live_event and live_diff_bytes have no target;" \
        "peer=none (Phoenix is not installed here)"
}

# --------------------------------------------------------------------------
ports=()
p=$port_base
while ((${#ports[@]} < 10)); do
    ((p < port_base + 200)) || die "no free ports from $port_base"
    port_free "$p" && ports+=("$p")
    p=$((p + 1))
done

log "bennu bench: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -sr), $(nproc) cpus"
log "threads=$threads wrk_threads=$wrk_threads duration=${duration}s warmup=${warmup}s ports=${ports[*]}"
if ((need_web || need_pg || need_sqlite)); then
    log "$(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)$( ((!need_web)) || echo "; $("$nginx_bin" -v 2>&1)")"
fi
if ((need_ws)); then
    log "node $("$node_bin" --version)," \
        "npm ws $(awk -F'"' '$2 == "version" { print $4; exit }' "$here/node_modules/ws/package.json")"
fi
read -r b0 t0 < <(machine_ticks)
sleep 1
read -r b1 t1 < <(machine_ticks)
busy=$((t1 > t0 ? 100 * (b1 - b0) / (t1 - t0) : 0))
log "cpu busy before the run: $busy%"
if ((busy > 10)); then
    echo "WARN the machine is busy ($busy% cpu used before starting): numbers will be low and noisy"
fi

# The Fortunes page's render cost (no server, no HTTP), while the machine is
# still quiet; its BENCH line is printed with the others at the end.
render_line=
if ((run_render)); then
    log "render_bench: the Fortunes page rendered in a loop (template plain/tree, hand-written)"
    render_line=$(timeout 300 "$build/bin/render_bench") || die "render_bench failed"
    log "${render_line#BENCH }"
fi
# Presence across two nodes (presence_bench: its own redis-server), also before the servers start.
presence_line=
if ((run_presence)); then
    log "presence_bench: 10,000 presences tracked on one node of two, over Redis"
    presence_line=$(timeout 300 "$build/bin/presence_bench" 10000) || die "presence_bench failed"
    log "${presence_line#BENCH }"
fi
# PubSub across two nodes (pubsub_bench: its own redis-server), against the local adapter.
pubsub_line=
if ((run_pubsub)); then
    log "pubsub_bench: node A to 100 subscribers on nodes A and B over Redis, then on one node alone"
    pubsub_line=$(timeout 300 "$build/bin/pubsub_bench" 100 20000) || die "pubsub_bench failed"
    log "${pubsub_line#BENCH }"
fi
# LiveView (live_server alone on the machine, then stopped), also before the other servers start.
live_lines=
if ((run_live)); then
    measure_live
    live_lines=$(live_report)
fi
if [[ -z ${cases// /} ]]; then
    [[ -z $render_line ]] || echo "$render_line"
    [[ -z $presence_line ]] || echo "$presence_line"
    [[ -z $pubsub_line ]] || echo "$pubsub_line"
    [[ -z $live_lines ]] || echo "$live_lines"
    exit 0
fi

# The bytes every server must send for /fortunes: render_bench's hand-written
# renderer (render_bench itself checks that the template renders the same).
mkdir -p "$tmp/nginx/html"
if ((need_page)); then
    timeout 60 "$build/bin/render_bench" --page >"$tmp/fortunes.html" || die "render_bench --page failed"
    check_fortunes_page "$tmp/fortunes.html"
    log "fortunes: the expected page is $(wc -c <"$tmp/fortunes.html") bytes"
fi
if ((need_fortunes)); then
    cp "$tmp/fortunes.html" "$tmp/nginx/html/fortunes.html"
    # nginx's workers run as another user: let them reach (not list) the
    # private temp dir and read the page.
    chmod 711 "$tmp" "$tmp/nginx"
    chmod 755 "$tmp/nginx/html"
    chmod 644 "$tmp/nginx/html/fortunes.html"
fi

master_env=()
[[ $bennu_master == 1 ]] || master_env=(BENNU_MASTER=0)

# The web servers (only for the cases that are not database cases).
if ((need_web)); then
    # Bennu
    if [[ -n ${BENCH_BENNU_CMD:-} ]]; then
        cmd=${BENCH_BENNU_CMD//@PORT@/${ports[0]}}
        cmd=${cmd//@THREADS@/$threads}
        read -r -a bennu_cmd <<<"$cmd"
        log "bennu is stood in for by: ${bennu_cmd[*]}"
        strict=0
    else
        bennu_cmd=("$build/bin/bench_server")
        strict=1
    fi
    start_server bennu "${ports[0]}" /plaintext env PORT="${ports[0]}" BENNU_BIND=127.0.0.1 \
        BENNU_THREADS="$threads" BENNU_DRAIN_TIMEOUT_MS=1000 "${master_env[@]}" "${bennu_cmd[@]}"
    check_response bennu /plaintext 'Hello, World!' text/plain "$strict"
    check_response bennu /json '{"message":"Hello, World!"}' application/json "$strict"
    if ((need_fortunes)); then
        check_page bennu /fortunes "$tmp/fortunes.html" 'text/html; charset=utf-8' "$strict"
    fi

    # Bennu in router mode (only for the json_router_* cases): the same binary
    # and settings behind its endpoint, router and "api" pipeline.
    if ((need_router)); then
        router_cmd=("${bennu_cmd[@]}")
        if [[ -n ${BENCH_BENNU_CMD:-} ]]; then
            cmd=${BENCH_BENNU_CMD//@PORT@/${ports[3]}}
            read -r -a router_cmd <<<"${cmd//@THREADS@/$threads}"
        fi
        start_server router "${ports[3]}" /api/json env BENCH_ROUTER=1 PORT="${ports[3]}" BENNU_BIND=127.0.0.1 \
            BENNU_THREADS="$threads" BENNU_DRAIN_TIMEOUT_MS=1000 "${master_env[@]}" "${router_cmd[@]}"
        check_response router /api/json '{"message":"Hello, World!"}' application/json "$strict" 'x-api-version: 1'
        check_response router /api/json_value '{"message":"Hello, World!"}' 'application/json; charset=utf-8' \
            "$strict" 'x-api-version: 1'
        # The pipeline's first plug is real: a client that does not accept JSON gets 406.
        got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Accept: text/html' \
            "http://127.0.0.1:${ports[3]}/api/json" || true)
        if [[ $got != 406 ]]; then
            [[ $strict == 1 ]] && die "router /api/json with Accept: text/html: status $got, not 406"
            echo "WARN router /api/json with Accept: text/html: status $got, not 406"
        fi
    fi

    # nginx, as many workers as Bennu has threads
    sed -e "s|@WORKERS@|$threads|g" -e "s|@PORT@|${ports[1]}|g" -e "s|@DIR@|$tmp/nginx|g" \
        "$here/nginx.conf.in" >"$tmp/nginx/nginx.conf"
    start_server nginx "${ports[1]}" /plaintext "$nginx_bin" -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log"
    check_response nginx /plaintext 'Hello, World!' text/plain 1
    check_response nginx /json '{"message":"Hello, World!"}' application/json 1
    if ((need_fortunes)); then
        check_page nginx /fortunes "$tmp/fortunes.html" 'text/html; charset=utf-8' 1
    fi
    if ((need_router)); then
        check_response nginx /api/json '{"message":"Hello, World!"}' application/json 1 'x-api-version: 1'
        check_response nginx /api/json_value '{"message":"Hello, World!"}' 'application/json; charset=utf-8' 1 \
            'x-api-version: 1'
    fi

    # The ceiling answers its plaintext response to every request, /json included.
    start_server ceiling "${ports[2]}" /plaintext "$build/bin/ceiling" "${ports[2]}" "$threads"
    check_response ceiling /plaintext 'Hello, World!' text/plain 1
    # For the fortunes cases, a second ceiling answers the Fortunes page's bytes.
    if ((need_fortunes)); then
        start_server ceilhtml "${ports[4]}" /fortunes "$build/bin/ceiling" "${ports[4]}" "$threads" \
            "$tmp/fortunes.html" 'text/html; charset=utf-8'
        check_page ceilhtml /fortunes "$tmp/fortunes.html" 'text/html; charset=utf-8' 1
    fi
fi

# The database servers: db_server over PostgreSQL (with the peer pgbench
# against the same server) and over a SQLite file, each checked first.
if ((need_pg)); then
    start_postgres
    start_server dbpg "${ports[5]}" /db env DATABASE_URL="$pg_url" POOL_SIZE="$pool_size" \
        BENCH_DB_UPDATES="$db_updates" PORT="${ports[5]}" BENNU_BIND=127.0.0.1 BENNU_THREADS="$threads" \
        BENNU_DRAIN_TIMEOUT_MS=1000 "${master_env[@]}" "$build/bin/db_server"
    check_db dbpg
fi
if ((need_sqlite)); then
    mkdir -p "$tmp/sqlite"
    sqlite_file=$tmp/sqlite/bench.sqlite
    start_server dbsqlite "${ports[6]}" /db env DATABASE_URL="sqlite:$sqlite_file" \
        BENCH_DB_UPDATES="$db_updates" PORT="${ports[6]}" BENNU_BIND=127.0.0.1 BENNU_THREADS="$threads" \
        BENNU_DRAIN_TIMEOUT_MS=1000 "${master_env[@]}" "$build/bin/db_server"
    check_db dbsqlite
fi

# All servers listen; only the one being measured has work. Measuring the
# servers back to back within each case keeps slow drifts of the machine out
# of the ratios (in a router case, bare bennu and the router one after the other).
for c in $cases; do
    ws_case "$c" && continue
    for s in $(case_servers "$c"); do measure_quiet "$s" "$c"; done
done
bennu_kib=$(server_rss_kib bennu)
nginx_kib=$(server_rss_kib nginx)
dbpg_kib=$(server_rss_kib dbpg)
dbsqlite_kib=$(server_rss_kib dbsqlite)
for s in "${!server_pid[@]}"; do stop_server "$s"; done
stop_postgres
web_cases= db_selected= ws_selected=
for c in $cases; do
    if db_case "$c"; then
        db_selected+=" $c"
    elif ws_case "$c"; then
        ws_selected+=" $c"
    else
        web_cases+=" $c"
    fi
done
# The WebSocket cases, once the other servers are gone: each server alone on the machine.
for c in $ws_selected; do
    for s in chan wspeer; do measure_ws "$s" "$c"; done
done

# --------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f\n", a / b; else print "nan" }'; }
# overhead A B — how much more B costs than A, in percent ("4.2%", "-1.0%").
overhead() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.1f%%\n", 100 * (b / a - 1); else print "nan" }'; }

# In a json_router_* case, "bennu" in the BENCH, BENCH_CPU and summary lines
# is the router-mode server.
for c in $web_cases; do
    m=$(case_main "$c")
    k=$(case_ceiling "$c")
    echo "BENCH $c bennu_rps=${rps[$m:$c]} peer=$(case_peer "$c") peer_rps=${rps[nginx:$c]}" \
        "ratio=$(ratio "${rps[$m:$c]}" "${rps[nginx:$c]}")" \
        "ceiling_rps=${rps[$k:$c]} ceiling_ratio=$(ratio "${rps[$m:$c]}" "${rps[$k:$c]}")" \
        "bennu_p99_ms=${p99[$m:$c]} peer_p99_ms=${p99[nginx:$c]}"
done
# Server CPU time per request: what each server costs, which still differs
# when the client is the bottleneck and the rates come out equal.
for c in $web_cases; do
    m=$(case_main "$c")
    echo "BENCH_CPU $c bennu_us_per_req=${cpu_us[$m:$c]} nginx_us_per_req=${cpu_us[nginx:$c]}" \
        "ceiling_us_per_req=${cpu_us[$(case_ceiling "$c"):$c]}"
done
[[ -z $web_cases ]] || echo "BENCH_RSS bennu_kib=$bennu_kib nginx_kib=$nginx_kib"
# The database cases: Bennu's requests/s and, for PostgreSQL, pgbench -S's
# transactions/s against the same server (ratio = requests / transactions;
# statements_ratio compares the SELECTs and UPDATEs Bennu made the database
# run with pgbench's single SELECTs). CPU per request: Bennu's (SQLite's
# included: it runs inside), PostgreSQL's, wrk's; per pgbench transaction:
# PostgreSQL's and pgbench's.
for c in $db_selected; do
    m=$(case_servers "$c")
    m=${m%% *}
    st=$(case_statements "$c")
    qps=$((${rps[$m:$c]} * st))
    if pg_case "$c"; then
        echo "BENCH $c bennu_rps=${rps[$m:$c]} peer=pgbench-S$([[ $pgbench_mode == simple ]] || echo "-$pgbench_mode") peer_tps=${rps[pgbench:$c]}" \
            "ratio=$(ratio "${rps[$m:$c]}" "${rps[pgbench:$c]}") bennu_p99_ms=${p99[$m:$c]}" \
            "bennu_avg_ms=${avg_ms[$m:$c]} peer_avg_ms=${avg_ms[pgbench:$c]} statements_per_req=$st" \
            "bennu_statements_per_s=$qps statements_ratio=$(ratio "$qps" "${rps[pgbench:$c]}")" \
            "pool_size=$pool_size updates=$db_updates"
    else
        echo "BENCH $c bennu_rps=${rps[$m:$c]} peer=none bennu_p99_ms=${p99[$m:$c]} bennu_avg_ms=${avg_ms[$m:$c]}" \
            "statements_per_req=$st bennu_statements_per_s=$qps updates=$db_updates"
    fi
done
for c in $db_selected; do
    m=$(case_servers "$c")
    m=${m%% *}
    if pg_case "$c"; then
        echo "BENCH_CPU $c bennu_us_per_req=${cpu_us[$m:$c]} postgres_us_per_req=${db_us[$m:$c]}" \
            "wrk_us_per_req=${client_us[$m:$c]} pgbench_postgres_us_per_txn=${db_us[pgbench:$c]}" \
            "pgbench_client_us_per_txn=${client_us[pgbench:$c]}"
    else
        echo "BENCH_CPU $c bennu_us_per_req=${cpu_us[$m:$c]} wrk_us_per_req=${client_us[$m:$c]}"
    fi
done
if [[ -n $db_selected ]]; then
    echo "BENCH_RSS_DB$( ((need_pg)) && echo " dbpg_kib=$dbpg_kib")$( ((need_sqlite)) && echo " dbsqlite_kib=$dbsqlite_kib")"
fi
# What the endpoint, router and pipeline add to the bare handler, measured
# next to each other in the same case.
for c in $web_cases; do
    router_case "$c" || continue
    echo "BENCH_ROUTER case=$c bare_us_per_req=${cpu_us[bennu:$c]} router_us_per_req=${cpu_us[router:$c]}" \
        "overhead=$(overhead "${cpu_us[bennu:$c]}" "${cpu_us[router:$c]}")" \
        "bare_rps=${rps[bennu:$c]} router_rps=${rps[router:$c]}"
done
# The Fortunes page's render cost, measured before the servers started.
[[ -z $render_line ]] || echo "$render_line"
[[ -z $presence_line ]] || echo "$presence_line"
[[ -z $pubsub_line ]] || echo "$pubsub_line"
[[ -z $live_lines ]] || echo "$live_lines"
# The WebSocket cases: chan_server (Bennu) against ws_peer.mjs (Node + npm ws);
# the ratios are Bennu / peer (below 1 is better for memory and times).
for c in $ws_selected; do
    n=$(case_n "$c")
    echo "BENCH ws_join n=$n joins_per_s=${ws[chan:$c:join]} peer=node-ws peer_joins_per_s=${ws[wspeer:$c:join]}" \
        "ratio=$(ratio "${ws[chan:$c:join]}" "${ws[wspeer:$c:join]}")"
    echo "BENCH ws_idle_mem n=$n bytes_per_conn=${ws[chan:$c:mem]} peer=node-ws" \
        "peer_bytes_per_conn=${ws[wspeer:$c:mem]} ratio=$(ratio "${ws[chan:$c:mem]}" "${ws[wspeer:$c:mem]}")"
    echo "BENCH ws_fanout n=$n p50_ms=${ws[chan:$c:fan50]} p99_ms=${ws[chan:$c:fan99]} peer=node-ws" \
        "peer_p50_ms=${ws[wspeer:$c:fan50]} peer_p99_ms=${ws[wspeer:$c:fan99]}" \
        "ratio_p99=$(ratio "${ws[chan:$c:fan99]}" "${ws[wspeer:$c:fan99]}") rounds=$ws_rounds" \
        "cpu_ms_per_broadcast=${ws[chan:$c:fancpu]} peer_cpu_ms_per_broadcast=${ws[wspeer:$c:fancpu]}"
    echo "BENCH ws_rtt n=$n rate=1000 p50_ms=${ws[chan:$c:rtt50]} p99_ms=${ws[chan:$c:rtt99]} peer=node-ws" \
        "peer_p50_ms=${ws[wspeer:$c:rtt50]} peer_p99_ms=${ws[wspeer:$c:rtt99]}" \
        "ratio_p99=$(ratio "${ws[chan:$c:rtt99]}" "${ws[wspeer:$c:rtt99]}")"
    echo "BENCH_CPU $c bennu_cpu_s=${ws[chan:$c:cpu_s]} peer_cpu_s=${ws[wspeer:$c:cpu_s]}"
done

# Summary against the project's targets: without pipelining Bennu should beat
# nginx by 15% and reach 85% of the ceiling; with pipelining 65% of the ceiling;
# the router and pipeline should add less than 10% of server CPU per request.
# The fortunes cases have no target yet: their row is for reading only.
# Database cases: db_pg should reach 80% of pgbench -S's transactions/s; the
# others have no target.
echo
if [[ -n $web_cases || -n $db_selected ]]; then
    echo "Summary ($threads server threads, wrk -t$wrk_threads, ${duration}s per case; ratios are Bennu / other)"
fi
met=0 total=0 noisy=0 crashed=0
[[ -z $web_cases ]] ||
    printf '%-26s %9s %9s %9s %8s %10s  %-31s %s\n' case bennu nginx ceiling vs_nginx vs_ceiling target result
for c in $web_cases; do
    m=$(case_main "$c")
    k=$(case_ceiling "$c")
    r=$(ratio "${rps[$m:$c]}" "${rps[nginx:$c]}")
    cr=$(ratio "${rps[$m:$c]}" "${rps[$k:$c]}")
    counted=1
    if fortunes_case "$c"; then
        want="(none: vs static file)"
        ok="-"
        counted=0
    elif router_case "$c"; then
        o=$(overhead "${cpu_us[bennu:$c]}" "${cpu_us[router:$c]}")
        want="router_cpu<+10% (${o})"
        ok=$(awk -v o="${o%\%}" 'BEGIN { print (o != "nan" && o + 0 < 10) ? "ok" : "MISSED" }')
    elif [[ $c == *pipeline* ]]; then
        want="vs_ceiling>=0.65"
        ok=$(awk -v cr="$cr" 'BEGIN { print (cr >= 0.65) ? "ok" : "MISSED" }')
    else
        want="vs_nginx>=1.15 vs_ceiling>=0.85"
        ok=$(awk -v r="$r" -v cr="$cr" 'BEGIN { print (r >= 1.15 && cr >= 0.85) ? "ok" : "MISSED" }')
    fi
    for s in $(case_servers "$c"); do
        if ((${others_pct[$s:$c]} > 10)); then
            ok="$ok (noisy)"
            noisy=1
            break
        fi
    done
    total=$((total + counted))
    [[ $ok != ok* ]] || met=$((met + 1))
    printf '%-26s %9s %9s %9s %8s %10s  %-31s %s\n' "$c" "${rps[$m:$c]}" "${rps[nginx:$c]}" \
        "${rps[$k:$c]}" "$r" "$cr" "$want" "$ok"
done
if [[ -n $db_selected ]]; then
    [[ -z $web_cases ]] || echo
    printf '%-26s %9s %9s %8s %12s  %-22s %s\n' case bennu_rps pgbench vs_pgbench statements/s target result
fi
for c in $db_selected; do
    m=$(case_servers "$c")
    m=${m%% *}
    qps=$((${rps[$m:$c]} * $(case_statements "$c")))
    if pg_case "$c"; then
        peer=${rps[pgbench:$c]}
        r=$(ratio "${rps[$m:$c]}" "$peer")
    else
        peer=- r=-
    fi
    if [[ $c == db_pg ]]; then
        want="vs_pgbench>=0.80"
        ok=$(awk -v r="$r" 'BEGIN { print (r != "nan" && r >= 0.80) ? "ok" : "MISSED" }')
        total=$((total + 1))
    else
        want="(none)"
        ok="-"
    fi
    for s in $(case_servers "$c"); do
        if ((${others_pct[$s:$c]} > 10)); then
            ok="$ok (noisy)"
            noisy=1
            break
        fi
    done
    if ((${crashes[$m:$c]:-0} > 0)); then
        ok="$ok (crashed)"
        crashed=1
    fi
    [[ $ok != ok* ]] || met=$((met + 1))
    printf '%-26s %9s %9s %8s %12s  %-22s %s\n' "$c" "${rps[$m:$c]}" "$peer" "$r" "$qps" "$want" "$ok"
done
# WebSocket cases: at most 1 KiB of server memory per idle connection, and
# (for 19,000 connections) the last subscriber has a broadcast within 100 ms (p99).
if [[ -n $ws_selected ]]; then
    [[ -z $web_cases && -z $db_selected ]] || echo
    echo "Summary of the WebSocket cases (chan_server: $ws_threads loop thread(s), no master; peer: node" \
        "ws_peer.mjs; $ws_rounds broadcasts, ${ws_rtt_secs}s of pings; ratios are Bennu / peer)"
    printf '%-12s %-20s %10s %10s %8s  %-14s %s\n' case measure bennu node-ws vs_peer target result
fi
for c in $ws_selected; do
    n=$(case_n "$c")
    suffix=
    for s in chan wspeer; do
        if ((${others_pct[$s:$c]} > 10)); then
            suffix=" (noisy)"
            noisy=1
        fi
    done
    for row in "join/s join -" "B/idle_conn mem 1024" "fanout_p50_ms fan50 -" "fanout_p99_ms fan99 100" \
        "rtt_p50_ms rtt50 -" "rtt_p99_ms rtt99 -"; do
        read -r label key limit <<<"$row"
        b=${ws[chan:$c:$key]} p=${ws[wspeer:$c:$key]}
        want="(none)" ok="-"
        if [[ $limit != - ]] && { [[ $key != fan99 ]] || ((n >= 19000)); }; then
            want="<=$limit"
            ok=$(awk -v v="$b" -v l="$limit" 'BEGIN { print (v != "nan" && v + 0 <= l) ? "ok" : "MISSED" }')
            total=$((total + 1))
            [[ $ok != ok ]] || met=$((met + 1))
            ok+=$suffix
        fi
        printf '%-12s %-20s %10s %10s %8s  %-14s %s\n' "$c" "$label" "$b" "$p" "$(ratio "$b" "$p")" "$want" "$ok"
    done
done
rss="Peak RSS:"
[[ -z $web_cases ]] || rss+=" bennu ${bennu_kib} KiB, nginx ${nginx_kib} KiB"
((!need_pg)) || rss+="$([[ -z $web_cases ]] || echo ",") db_server/pg ${dbpg_kib} KiB"
((!need_sqlite)) || rss+="$([[ -z $web_cases && $need_pg == 0 ]] || echo ",") db_server/sqlite ${dbsqlite_kib} KiB"
if [[ $rss == "Peak RSS:" ]]; then
    echo "Targets met: $met/$total."
else
    echo "Targets met: $met/$total. $rss."
fi
if ((crashed)); then
    echo "(crashed): a worker of db_server died during the run (WARN lines above); its numbers are not Bennu's."
fi
if ((noisy)); then
    echo "(noisy): other programs used more than 10% of the CPUs during a run of that case; rerun on a quiet machine."
fi
