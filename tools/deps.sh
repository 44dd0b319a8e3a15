#!/usr/bin/env bash
# Installs the Debian packages Bennu needs, only those missing.
#   tools/deps.sh            build + test
#   tools/deps.sh bench      also wrk and nginx (the benchmark's peer), jq and sqlite3
#   tools/deps.sh fuzz       also clang's libFuzzer runtime
set -euo pipefail

build=(gcc make cmake pkg-config libc6-dev libjansson-dev libssl-dev libsqlite3-dev libpq-dev)
test=(libcriterion-dev curl postgresql)
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
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
