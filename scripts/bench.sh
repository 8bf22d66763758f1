#!/usr/bin/env bash
# `npm run bench`: build, make sure the engine runs, then print dopq's figures beside raw Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npx tsc -p tsconfig.json
bash scripts/docker-engine.sh
exec node dist/bench/bench.js
