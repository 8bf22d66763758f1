#!/usr/bin/env bash
# `npm run bench`: build, make sure the engine runs, then print dopq's figures beside raw Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npx tsc -p tsconfig.json && node scripts/bundle.mjs
# The scheduler and simulator need no Docker; `npm run bench -- --scheduler` stops after them.
node dist/bench/scheduler.js
[ "${1:-}" = "--scheduler" ] && exit 0
echo
bash scripts/docker-engine.sh
node dist/bench/bench.js
echo
# Bounded inputs: the pass and `dopq q` with 20,000 rejected records and 3,000 waiting requests.
exec node dist/bench/flood.js
