#!/usr/bin/env bash
# Make a Docker engine reachable, and build the local busybox image that tests and the demo use.
# Every new machine (and CI) starts without an engine, and no registry can be reached, so the
# project brings both itself. Idempotent: a reachable engine and an existing image are kept.
# `--image-only`: only build the image, into whatever engine DOCKER_HOST names (scripts/chaos-engine.sh).
set -euo pipefail

image_only=false
[ "${1:-}" = "--image-only" ] && image_only=true

image=${DOPQ_BUSYBOX_IMAGE:-dopq-busybox:latest}
log=${DOPQ_DOCKERD_LOG:-/var/log/dopq-dockerd.log}

say() { echo "docker-engine: $*" >&2; }

if $image_only; then
  docker info >/dev/null 2>&1 || { say "no Docker engine is reachable at ${DOCKER_HOST:-the default socket}"; exit 69; }
elif ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    say "no Docker engine is reachable and only root can start one; run this as root"
    exit 69
  fi
  if ! command -v dockerd >/dev/null 2>&1 || [ ! -x /bin/busybox ]; then
    say "installing docker.io and busybox-static"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y docker.io busybox-static >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get install -y docker.io busybox-static >/dev/null; }
  fi
  say "starting dockerd (log: $log)"
  # --bridge=none: test jobs need no network, and it keeps containers off private ranges.
  nohup dockerd --bridge=none --iptables=false --ip6tables=false >>"$log" 2>&1 &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { say "dockerd did not come up; see $log"; tail -20 "$log" >&2; exit 69; }
fi

if ! docker image inspect "$image" >/dev/null 2>&1; then
  busybox=/bin/busybox
  if [ ! -x "$busybox" ] || ! file "$busybox" 2>/dev/null | grep -q 'statically linked'; then
    [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y busybox-static >/dev/null 2>&1 || true
  fi
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  cp "$busybox" "$ctx/busybox"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN ["/bin/mkdir", "-p", "/tmp", "/work"]
RUN ["/bin/chmod", "1777", "/tmp"]
WORKDIR /
CMD ["/bin/sh"]
DOCKERFILE
  say "building $image from the static busybox"
  docker build -q -t "$image" "$ctx" >/dev/null
fi
