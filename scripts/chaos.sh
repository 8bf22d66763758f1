#!/usr/bin/env bash
# `npm run chaos -- [--jobs N] [--kills N] [--engine-restarts N] [--disk-full N] [--seed S]`:
# build, then run the chaos harness (bench/chaos.ts) against a private Docker engine
# (scripts/chaos-engine.sh), never the one the test suite shares.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "chaos: the harness mounts a filesystem, runs a Docker engine and pushes as real users: run it as root" >&2
  exit 77
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
{ npx tsc -p tsconfig.json && node scripts/bundle.mjs; } || [ -f dist/bench/chaos.js ] || exit 70
# The test users run the CLI: it must be readable by them (see scripts/test.sh).
if ! runuser -u nobody -- test -r "$PWD/dist/src/cli.js" 2>/dev/null; then
  echo "chaos: dist/src/cli.js is not readable by other users; run from a readable copy of the checkout" >&2
  exit 77
fi
exec node dist/bench/chaos.js "$@"
