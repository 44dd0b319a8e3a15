#!/usr/bin/env bash
# make run-cluster: Redis and two showcase nodes sharing it, on loopback.
#   tools/run_cluster.sh BUILD_DIR     (ports: PORT and PORT+1, Redis on REDIS_PORT)
# Ctrl-C stops all three.
set -euo pipefail
build="${1:-build}"
port="${PORT:-4000}"
redis_port="${REDIS_PORT:-6390}"
mkdir -p "$build/cluster"
dir="$(cd "$build/cluster" && pwd)" # absolute: redis-server opens its log file after a chdir to --dir

pids=()
stop() {
  trap - INT TERM EXIT
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
  --logfile "$dir/redis.log" &
pids+=($!)
for _ in $(seq 50); do # up to 5 s for Redis to answer
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done

export REDIS_URL="redis://127.0.0.1:$redis_port"
for i in 1 2; do
  PORT=$((port + i - 1)) BENNU_NODE="node$i" "$build/bin/showcase" &
  pids+=($!)
done
echo "cluster: node1 http://localhost:$port  node2 http://localhost:$((port + 1))  redis $REDIS_URL"
wait -n "${pids[@]}" # the first to exit ends the cluster
