#!/bin/sh
# ctest's js_channels: the tests in this folder with Node's test runner.
# BENNU_BIN_DIR is the build's bin folder (channel_server); set by ctest.
set -eu
cd "$(dirname "$0")"
if [ ! -d node_modules/phoenix ] || [ ! -d node_modules/ws ] || [ ! -d node_modules/playwright-core ]; then
  echo "js_channels: tests/js/node_modules is missing: run \`npm ci\` in tests/js (tools/deps.sh does it)" >&2
  exit 1
fi
if [ ! -x "${BENNU_BIN_DIR:-}/channel_server" ]; then
  echo "js_channels: no channel_server in BENNU_BIN_DIR='${BENNU_BIN_DIR:-}': build the target channel_server first" >&2
  exit 1
fi
exec node --test --test-concurrency=1 ./*.test.mjs
