#!/usr/bin/env bash
# The quick start's main job (`npm run demo`, as root): build dopq, make sure a Docker engine
# runs, push the example job into the bundled spool, then run the daemon in the foreground on
# the bundled config. Ctrl-C stops the daemon; running containers keep running.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npx tsc -p tsconfig.json && node scripts/bundle.mjs
bash scripts/docker-engine.sh
dopq() { node dist/src/cli.js --config etc/dopq.yaml "$@"; }
dopq init        # lay out ./spool with its owners and modes (root)
for i in 1 2 3; do echo "pushed examples/hello.yaml as job $(dopq push examples/hello.yaml)"; done
echo "pushed examples/two-gpus.yaml as job $(dopq push examples/two-gpus.yaml)"
cat <<'MSG'

Starting the daemon on etc/dopq.yaml (spool: ./spool). In another terminal:
  node dist/src/cli.js --config etc/dopq.yaml q          # the queue, GPUs and penalties
  node dist/src/cli.js --config etc/dopq.yaml log -f 1   # follow a job's output
Ctrl-C stops the daemon.

MSG
exec node dist/src/cli.js --config etc/dopq.yaml run
