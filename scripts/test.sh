#!/usr/bin/env bash
# The test command (`npm test`): install, build, start what the tests need, run them all.
# The Docker engine and real Unix users are part of the suite, never opt-in.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npx tsc -p tsconfig.json
if [ "$(id -u)" != 0 ]; then
  echo "test: the suite creates Unix users and runs a Docker engine: run it as root" >&2
  exit 77
fi
bash scripts/docker-engine.sh
exec npx ava "$@"
