#!/usr/bin/env bash
# Installs the Debian packages Bennu needs, only those missing.
#   tools/deps.sh            build + test
#   tools/deps.sh bench      also wrk and nginx (the benchmark's peer), jq and sqlite3
#   tools/deps.sh fuzz       also clang's libFuzzer runtime
# Then `npm ci` for the JavaScript packages (see npm_ci below).
set -euo pipefail

build=(gcc make cmake pkg-config libc6-dev libjansson-dev libssl-dev libsqlite3-dev libpq-dev zlib1g-dev libhiredis-dev)
test=(libcriterion-dev curl postgresql redis-server nodejs npm chromium) # node, npm, chromium: tests/js
bench=(wrk nginx-light jq sqlite3) # jq, sqlite3: db_server's checks; pgbench comes with postgresql
fuzz=(clang libclang-rt-14-dev)

want=("${build[@]}" "${test[@]}")
for group in "$@"; do
  case "$group" in
    bench) want+=("${bench[@]}") ;;
    fuzz) want+=("${fuzz[@]}") ;;
    *) echo "deps.sh: unknown group $group" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${want[@]}"; do
  # NodeSource's nodejs carries its own npm and conflicts with Debian's: any working npm will do.
  [ "$pkg" = npm ] && command -v npm >/dev/null && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: need root to apt-get install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # nginx's package starts a service on install in some setups; keep it stopped (policy-rc.d).
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm ci where a folder's node_modules is missing or older than its lock (npm keeps a copy of
# the lock it installed from in node_modules/.package-lock.json):
#   tests/js                 the real-client tests (npm phoenix, ws, playwright-core)
#   examples/showcase/assets the chat page's phoenix client, the LiveView client's packages (make run)
#   bench                    with the bench group: the WebSocket peer (npm ws)
npm_ci() {
  local dir
  dir="$(cd "$(dirname "$0")/../$1" && pwd)"
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "deps: npm ci in $1"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
npm_ci tests/js
npm_ci examples/showcase/assets
# The showcase's LiveView client (js/app.js bundled by esbuild), when missing or older than its inputs.
(
  cd "$(dirname "$0")/../examples/showcase/assets"
  if [ ! -f dist/app.js ] || [ js/app.js -nt dist/app.js ] || [ package-lock.json -nt dist/app.js ]; then
    echo "deps: npm run build in examples/showcase/assets"
    npm run build --silent
  fi
)
for group in "$@"; do
  [ "$group" = bench ] && npm_ci bench # the WebSocket benchmark's peer (npm ws)
done
