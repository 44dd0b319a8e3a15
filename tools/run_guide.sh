#!/usr/bin/env bash
# Runs a guide's example program and, if the guide shows its output, checks
# that the program prints exactly that. Used by ctest (tests/CMakeLists.txt).
#   tools/run_guide.sh <program> <expected-output-file or "">
set -euo pipefail
program=$1 expected=${2:-}
actual=$(BENNU_LOG_LEVEL=error "$program")
if [ -n "$expected" ] && [ -f "$expected" ]; then
  if ! diff -u "$expected" <(printf '%s\n' "$actual"); then
    echo "run_guide: $(basename "$program") does not print what its guide shows" >&2
    exit 1
  fi
fi
echo "run_guide: $(basename "$program") ok"
