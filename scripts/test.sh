#!/usr/bin/env bash
# The test command (`npm test`): install, build, start what the tests need, run them all.
# The Docker engine and real Unix users are part of the suite, never opt-in.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build  # a clean build: a deleted test must not run from a stale dist/
# Lint, format and the layers (no import against cli -> daemon -> io -> core, no cycles) first:
# a violation fails the suite before any test runs.
npm run --silent lint
if [ "$(id -u)" != 0 ]; then
  echo "test: the suite creates Unix users and runs a Docker engine: run it as root" >&2
  exit 77
fi
bash scripts/docker-engine.sh
# The Slurm backend's tests run on a real single-node Slurm with fake GPUs (seconds once installed).
bash scripts/slurm-cluster.sh
# The install tests read man pages (man-db), verify the systemd unit and run the zsh completion.
if ! command -v man >/dev/null || ! command -v systemd-analyze >/dev/null || ! command -v zsh >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y man-db systemd zsh >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y man-db systemd zsh >/dev/null; }
fi
# The metrics tests check /metrics and `dopq metrics` with promtool (Debian's prometheus package).
if ! command -v promtool >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends prometheus >/dev/null; }
fi
# The web dashboard's test drives Debian's Chromium with puppeteer-core (which downloads no browser).
if ! command -v chromium >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null; }
fi
# The package test packs the sources, which a copy (below) does not hold.
export DOPQ_CHECKOUT="$PWD"
# The tests run the CLI as unprivileged users, who must be able to reach it. A checkout under a
# private folder (/root, a 0700 home) is not reachable: run the suite from a readable copy.
if ! runuser -u nobody -- test -r "$PWD/dist/src/dopq.cjs" 2>/dev/null; then
  copy=$(mktemp -d /tmp/dopq-suite-XXXXXX)
  chmod 755 "$copy"
  cp -a dist node_modules package.json etc examples scripts "$copy"/
  trap 'rm -rf "$copy"' EXIT
  cd "$copy"
  echo "test: running from $copy (the checkout is not readable by other users)" >&2
  npx ava "$@"
  exit
fi
exec npx ava "$@"
