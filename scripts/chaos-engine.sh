#!/usr/bin/env bash
# A second, private Docker engine for the chaos harness (bench/chaos.ts), so that restarting it
# never touches the engine the rest of the suite shares (/var/run/docker.sock).
#
#   scripts/chaos-engine.sh start|stop|restart|status DIR
#
# Everything it owns lives under DIR: docker.sock, docker.pid (its mtime is the engine's start),
# data/, exec/ (its own containerd runs under exec/containerd), dockerd.log. `start` waits until
# the engine answers and the busybox image is in it; `stop` sends SIGTERM and waits until the
# engine is gone (without live-restore its running containers die with it); `restart` is both.
# Exit codes: 0 ok, 64 usage, 69 the engine did not come up or would not go.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
usage() { echo "usage: $0 start|stop|restart|status DIR" >&2; exit 64; }
[ $# -eq 2 ] || usage
action=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
sock="$dir/docker.sock"
pidfile="$dir/docker.pid"
log="$dir/dockerd.log"
# Distinct containerd namespaces, in case this dockerd finds a system containerd to share.
namespace=${DOPQ_CHAOS_NAMESPACE:-dopq-chaos}
up_timeout=${DOPQ_CHAOS_ENGINE_TIMEOUT:-60}

say() { echo "chaos-engine: $*" >&2; }
client() { docker -H "unix://$sock" "$@"; }
engine_pid() { [ -s "$pidfile" ] && cat "$pidfile" || true; }
alive() { local pid; pid=$(engine_pid); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
answers() { client info >/dev/null 2>&1; }

start() {
  if alive && answers; then return 0; fi
  if [ "$(id -u)" != 0 ]; then say "only root can start an engine"; exit 69; fi
  command -v dockerd >/dev/null 2>&1 || bash "$here/docker-engine.sh" # installs docker.io
  mkdir -p "$dir/data" "$dir/exec"
  # setsid: its own session, so a Ctrl-C meant for the harness does not reach it.
  setsid dockerd -H "unix://$sock" --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$pidfile" \
    --bridge=none --iptables=false --ip6tables=false \
    --containerd-namespace "$namespace" --containerd-plugins-namespace "$namespace-plugins" \
    </dev/null >>"$log" 2>&1 &
  local waited=0
  until answers; do
    if [ "$waited" -ge $((up_timeout * 10)) ]; then
      say "dockerd did not answer on $sock within ${up_timeout}s; see $log"
      tail -20 "$log" >&2
      exit 69
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  DOCKER_HOST="unix://$sock" bash "$here/docker-engine.sh" --image-only
}

stop() {
  local pid
  pid=$(engine_pid)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then return 0; fi
  kill -TERM "$pid"
  # dockerd gives each running container its stop timeout (10 s) before killing it.
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge $((up_timeout * 10)) ]; then
      say "dockerd $pid ignored SIGTERM for ${up_timeout}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      local containerd
      containerd=$(cat "$dir/exec/containerd/containerd.pid" 2>/dev/null || true)
      [ -n "$containerd" ] && kill -KILL "$containerd" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  ! kill -0 "$pid" 2>/dev/null || { say "dockerd $pid would not go"; exit 69; }
}

case "$action" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status)
    if alive && answers; then echo "running (pid $(engine_pid), socket $sock)"; else echo "stopped"; exit 3; fi
    ;;
  *) usage ;;
esac
