#!/usr/bin/env bash
# Bring up a real single-node Slurm 22.05 cluster (Debian's packages) with fake GPUs, for tests and demos.
#
#   slurm-cluster.sh [up]              install what is missing, configure, start, wait until usable
#   slurm-cluster.sh add-user NAME...  give Unix users an association in account "dopq" (after up)
#   slurm-cluster.sh reset-usage NAME... forget the users' fair-share usage in account "dopq" (a test's clean start)
#   slurm-cluster.sh epilog DOPQ_PATH [CONFIG]  the node epilog also runs DOPQ_PATH node-epilog for CONFIG
#   slurm-cluster.sh epilog-remove [CONFIG]      ... and no longer for CONFIG
#   slurm-cluster.sh status            print sinfo, the node's GRES and the associations
#   slurm-cluster.sh down              stop the daemons this script starts (state and config are kept)
#
# Like scripts/docker-engine.sh: idempotent, a running healthy cluster with the same config is kept,
# and safe to call from many test processes at once (one flock around everything).
# The node is `hostname -s` with DOPQ_SLURM_GPUS (4) fake GPUs: character devices with NVIDIA's
# major 195 under /dev/dopq-fake-gpu, named by gres.conf `File=`; Slurm hands them out and sets
# SLURM_JOB_GPUS / CUDA_VISIBLE_DEVICES as on a real GPU node. Fair-share needs accounting, so
# MariaDB and slurmdbd run too. Daemons keep their usual names: started under another name, Slurm
# silently drops `Gres=` from node lines.
set -euo pipefail

conf_dir=${SLURM_CONF_DIR:-/etc/slurm}
gpus=${DOPQ_SLURM_GPUS:-4}
cpus=${DOPQ_SLURM_CPUS:-8}               # claimed (config_overrides): tests run several jobs at once on 2 cores
memory_mb=${DOPQ_SLURM_MEMORY_MB:-32768} # claimed, not enforced (no cgroups here)
cluster=${DOPQ_SLURM_CLUSTER:-dopq}
account=${DOPQ_SLURM_ACCOUNT:-dopq}
partition=${DOPQ_SLURM_PARTITION:-dopq}
gpu_dir=/dev/dopq-fake-gpu
log_dir=/var/log/slurm
lock=/run/dopq-slurm-cluster.lock
node=$(hostname -s)

say() { echo "slurm-cluster: $*" >&2; }
fail() {
  say "$1"
  [ -n "${2:-}" ] && [ -f "$2" ] && tail -15 "$2" >&2
  exit "${3:-69}"
}

[ "$(id -u)" = 0 ] || fail "only root can install and start Slurm; run this as root" "" 77

# One caller at a time: tests start in parallel and each asks for the cluster.
exec 9>"$lock"
flock 9

# Wait up to $1 half-seconds for a command to succeed.
wait_for() {
  local tries=$1
  shift
  for _ in $(seq 1 "$tries"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

# A daemon is running when a process of that exact name exists.
running() { pgrep -x "$1" >/dev/null 2>&1; }

install_packages() {
  local missing=()
  command -v munged >/dev/null || missing+=(munge)
  command -v slurmctld >/dev/null || missing+=(slurmctld)
  command -v slurmd >/dev/null || missing+=(slurmd)
  command -v slurmdbd >/dev/null || missing+=(slurmdbd)
  command -v sbatch >/dev/null || missing+=(slurm-client)
  command -v mariadbd >/dev/null || missing+=(mariadb-server)
  [ ${#missing[@]} = 0 ] && return 0
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; } ||
    fail "could not install ${missing[*]} with apt-get"
}

make_fake_gpus() {
  mkdir -p "$gpu_dir"
  local i
  for i in $(seq 0 $((gpus - 1))); do
    [ -c "$gpu_dir/nvidia$i" ] || mknod -m 666 "$gpu_dir/nvidia$i" c 195 "$i" || fail "mknod $gpu_dir/nvidia$i failed"
  done
}

# The database password lives only in slurmdbd.conf (0600, slurm): keep the one already there.
db_password() {
  local pass=''
  [ -f "$conf_dir/slurmdbd.conf" ] && pass=$(sed -n 's/^StoragePass=//p' "$conf_dir/slurmdbd.conf")
  [ -n "$pass" ] || pass=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  echo "$pass"
}

# Write $2 to $1 only when it differs; returns 0 when the file changed.
write_if_changed() {
  local file=$1 text=$2
  if [ -f "$file" ] && [ "$(cat "$file")" = "$text" ]; then return 1; fi
  printf '%s\n' "$text" >"$file.tmp"
  mv "$file.tmp" "$file"
  return 0
}

write_config() {
  mkdir -p "$conf_dir" "$log_dir" /var/lib/slurm/slurmctld /var/lib/slurm/slurmd
  chown slurm:slurm "$log_dir" /var/lib/slurm/slurmctld
  local last=$((gpus - 1)) changed=1
  local slurm_conf
  slurm_conf=$(
    cat <<EOF
# Written by dopq's scripts/slurm-cluster.sh: a single-node test cluster with fake GPUs.
ClusterName=$cluster
SlurmctldHost=$node(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CryptoType=crypto/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$log_dir/slurmctld.log
SlurmdLogFile=$log_dir/slurmd.log
MpiDefault=none
SwitchType=switch/none
# No cgroups on the test machine; docker run escapes a job's cgroup anyway, so dopq's node
# helper stops its container on SIGTERM and the epilog removes leftovers.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
# One small VM claims what this file says (CPUs, memory, GPUs).
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
# Slurm sends SIGTERM at the time limit and SIGKILL KillWait seconds later.
KillWait=10
OverTimeLimit=0
InactiveLimit=0
MinJobAge=300
GresTypes=gpu
# Fair-share dominates the priority; short periods make decay observable in tests (minimum 1 minute).
PriorityType=priority/multifactor
PriorityDecayHalfLife=0-0:10:00
PriorityCalcPeriod=1
PriorityUsageResetPeriod=NONE
PriorityWeightFairshare=100000
PriorityWeightAge=0
PriorityWeightJobSize=0
PriorityWeightPartition=0
PriorityWeightQOS=0
PriorityMaxAge=1-0
# Accounting: fair-share needs slurmdbd; limits and QOS make per-user GPU caps (MaxTRESPerUser) bite.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
AccountingStorageEnforce=associations,limits,qos
JobCompType=jobcomp/none
# dopq's node epilog removes any container left with the ending job's label.
Epilog=$conf_dir/dopq-epilog.sh
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb Gres=gpu:$gpus State=UNKNOWN
# Usage counts GPU time first: a GPU weighs as much as 10 CPUs.
PartitionName=$partition Nodes=$node Default=YES MaxTime=INFINITE State=UP TRESBillingWeights=CPU=0.1,GRES/gpu=1.0
EOF
  )
  write_if_changed "$conf_dir/slurm.conf" "$slurm_conf" && changed=0
  write_if_changed "$conf_dir/gres.conf" "AutoDetect=off
Name=gpu File=$gpu_dir/nvidia[0-$last]" && changed=0
  local dbd_conf
  dbd_conf=$(
    cat <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
LogFile=$log_dir/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$(db_password)
StorageLoc=slurm_acct_db
EOF
  )
  write_if_changed "$conf_dir/slurmdbd.conf" "$dbd_conf" && changed=0
  chown slurm:slurm "$conf_dir/slurmdbd.conf"
  chmod 600 "$conf_dir/slurmdbd.conf"
  # The node epilog runs `dopq node-epilog` once per entry in dopq-epilog.d (`slurm-cluster.sh epilog
  # PATH [CONFIG]`): each removes only its own config's instance's containers, so test files that run
  # at once each add their own entry and remove it after, and no entry overwrites another.
  write_if_changed "$conf_dir/dopq-epilog.sh" "$(
    cat <<EOF
#!/bin/sh
# Slurm's node epilog (root): remove any dopq container left by the ending job (SLURM_JOB_ID).
# Written by dopq's scripts/slurm-cluster.sh. It runs dopq node-epilog once per dopq-epilog.d/*.env
# (DOPQ_BIN, DOPQ_CONFIG), or dopq on PATH with its default config when there is none. What they
# print goes to $log_dir/dopq-epilog.log (slurmd keeps none of it). An entry whose dopq or config
# is gone is skipped; a node-epilog that fails fails the epilog, and Slurm drains the node: a
# container it could not remove must not meet the next job.
# slurmd gives epilogs almost no environment: dopq's launcher needs node, and dopq needs docker.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
exec >>$log_dir/dopq-epilog.log 2>&1
status=0 entries=0
for entry in "\$(dirname "\$0")"/dopq-epilog.d/*.env; do
  [ -r "\$entry" ] || continue
  entries=\$((entries + 1))
  (
    DOPQ_BIN='' DOPQ_CONFIG=''
    . "\$entry"
    [ -x "\$DOPQ_BIN" ] || exit 0
    [ -z "\$DOPQ_CONFIG" ] || [ -r "\$DOPQ_CONFIG" ] || exit 0
    if [ -n "\$DOPQ_CONFIG" ]; then exec "\$DOPQ_BIN" --config "\$DOPQ_CONFIG" node-epilog; fi
    exec "\$DOPQ_BIN" node-epilog
  ) || { status=\$?; echo "dopq-epilog: Slurm job \${SLURM_JOB_ID:-?}: \$entry failed (exit \$status)"; }
done
if [ "\$entries" = 0 ] && dopq=\$(command -v dopq); then "\$dopq" node-epilog || status=\$?; fi
exit "\$status"
EOF
  )" || true
  chmod 755 "$conf_dir/dopq-epilog.sh"
  return $changed
}

start_munge() {
  if running munged && munge -n </dev/null | unmunge >/dev/null 2>&1; then return 0; fi
  [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key && chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key; }
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
  say "starting munged"
  runuser -u munge -- /usr/sbin/munged --force 9>&-
  wait_for 40 sh -c 'munge -n </dev/null | unmunge' || fail "munged did not come up" /var/log/munge/munged.log
}

start_mariadb() {
  if ! mariadb-admin ping >/dev/null 2>&1; then
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    say "starting mariadbd (log: $log_dir/mariadb.log)"
    # Small buffers: the accounting database of one test node is tiny.
    nohup /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 --innodb-buffer-pool-size=32M \
      --log-error="$log_dir/mariadb.log" >/dev/null 2>&1 9>&- &
    wait_for 120 mariadb-admin ping || fail "mariadbd did not come up" "$log_dir/mariadb.log"
  fi
  local pass
  pass=$(sed -n 's/^StoragePass=//p' "$conf_dir/slurmdbd.conf")
  mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pass';
    ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$pass';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" || fail "could not create the database user slurm"
}

# slurmdbd answers when sacctmgr can list clusters.
dbd_answers() { sacctmgr -n -P show cluster format=cluster; }

start_slurmdbd() {
  if running slurmdbd && dbd_answers >/dev/null 2>&1; then return 0; fi
  stop_daemon slurmdbd
  say "starting slurmdbd"
  /usr/sbin/slurmdbd 9>&- || fail "slurmdbd did not start" "$log_dir/slurmdbd.log"
  wait_for 120 dbd_answers || fail "slurmdbd does not answer" "$log_dir/slurmdbd.log"
}

ensure_accounting() {
  dbd_answers | grep -qx "$cluster" || sacctmgr -i add cluster "$cluster" >/dev/null ||
    fail "sacctmgr could not add cluster $cluster"
  sacctmgr -n -P show account "$account" format=account | grep -qx "$account" ||
    sacctmgr -i add account "$account" cluster="$cluster" description=dopq organization=dopq >/dev/null ||
    fail "sacctmgr could not add account $account"
}

# Stop one daemon by its pid file (the one slurm.conf or the daemon names), by name if that is missing.
stop_daemon() {
  local name=$1 pidfile=${2:-/run/$1.pid} pid
  running "$name" || return 0
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then kill "$pid"; else pkill -x "$name" || true; fi
  wait_for 40 sh -c "! pgrep -x $name" || { pkill -9 -x "$name" || true; }
}

start_slurm() {
  local restart=$1
  if $restart; then
    stop_daemon slurmd
    stop_daemon slurmctld
  fi
  if ! running slurmctld; then
    say "starting slurmctld (log: $log_dir/slurmctld.log)"
    /usr/sbin/slurmctld 9>&- || fail "slurmctld did not start" "$log_dir/slurmctld.log"
  fi
  wait_for 60 scontrol ping || fail "slurmctld does not answer scontrol ping" "$log_dir/slurmctld.log"
  if ! running slurmd; then
    say "starting slurmd (log: $log_dir/slurmd.log)"
    /usr/sbin/slurmd 9>&- || fail "slurmd did not start" "$log_dir/slurmd.log"
  fi
}

# The node is usable when sinfo shows it idle (or running jobs) with gpu:N.
node_state() { sinfo -h -N -n "$node" -o '%T %G'; }
node_ready() { node_state | grep -Eq "^(idle|mixed|allocated|completing)[*~#]? gpu:$gpus(\(|$| )"; }

wait_for_node() {
  local state
  for _ in $(seq 1 120); do
    node_ready && return 0
    state=$(node_state 2>/dev/null || true)
    # A failed epilog or an old registration drains the node: a test cluster takes it back.
    case "$state" in
      drain* | down* | fail*) scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
  done
  fail "node $node is not usable: sinfo says '$(node_state 2>&1)'; $(scontrol show node "$node" 2>/dev/null | grep -o 'Reason=.*' || true)" "$log_dir/slurmd.log"
}

add_users() {
  local user
  for user in "$@"; do
    id -u "$user" >/dev/null 2>&1 || fail "no Unix user $user" "" 67
    if ! sacctmgr -n -P show assoc where user="$user" account="$account" cluster="$cluster" format=user | grep -qx "$user"; then
      sacctmgr -i add user "$user" account="$account" cluster="$cluster" >/dev/null ||
        fail "sacctmgr could not add user $user to account $account"
      say "added $user to account $account"
    fi
  done
  # slurmctld caches associations; it learns new ones from slurmdbd at once, but wait to be sure.
  for user in "$@"; do
    wait_for 40 sh -c "scontrol show assoc_mgr users=$user flags=assoc | grep -q 'UserName=$user'" ||
      fail "slurmctld does not know user $user yet" "$log_dir/slurmctld.log"
  done
}

# One word for /bin/sh (the epilog sources its entries): single quotes, each ' written as '\''.
sh_quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# The epilog's entry for a config (or the default one): a file named by a hash of its path.
epilog_entry() {
  local name=default
  [ -n "$1" ] && name=$(printf '%s' "$1" | sha256sum | cut -c1-16)
  echo "$conf_dir/dopq-epilog.d/$name.env"
}

up() {
  local started
  started=$(date +%s%N)
  install_packages
  make_fake_gpus
  local restart=false
  write_config && restart=true
  $restart && say "wrote $conf_dir/slurm.conf, gres.conf, slurmdbd.conf"
  start_munge
  start_mariadb
  start_slurmdbd
  ensure_accounting
  start_slurm "$restart"
  wait_for_node
  local ms=$((($(date +%s%N) - started) / 1000000))
  say "node $node ready with gpu:$gpus, partition $partition, account $account ($((ms / 1000)).$((ms % 1000 / 100)) s)"
}

case "${1:-up}" in
  up) up ;;
  add-user)
    shift
    [ $# -gt 0 ] || fail "usage: slurm-cluster.sh add-user NAME..." "" 64
    up
    add_users "$@"
    ;;
  reset-usage)
    shift
    [ $# -gt 0 ] || fail "usage: slurm-cluster.sh reset-usage NAME..." "" 64
    for user in "$@"; do
      sacctmgr -i modify user where name="$user" account="$account" cluster="$cluster" set RawUsage=0 >/dev/null ||
        fail "sacctmgr could not reset the usage of $user"
    done
    say "usage of $* reset"
    ;;
  epilog)
    # The node epilog also runs DOPQ_PATH node-epilog for CONFIG (or the default config): one entry per
    # config, replaced when given again. slurm-cluster.sh epilog DOPQ_PATH [CONFIG]
    [ -n "${2:-}" ] || fail "usage: slurm-cluster.sh epilog DOPQ_PATH [CONFIG]" "" 64
    mkdir -p "$conf_dir/dopq-epilog.d"
    entry=$(epilog_entry "${3:-}")
    { echo "DOPQ_BIN=$(sh_quote "$2")" && echo "DOPQ_CONFIG=$(sh_quote "${3:-}")"; } >"$entry.tmp"
    mv "$entry.tmp" "$entry"
    say "the node epilog runs $2 node-epilog${3:+ for $3} ($entry)"
    ;;
  epilog-remove)
    # The node epilog no longer runs node-epilog for CONFIG (or the default config). slurm-cluster.sh epilog-remove [CONFIG]
    rm -f "$(epilog_entry "${2:-}")"
    say "the node epilog no longer runs node-epilog for ${2:-the default config}"
    ;;
  status)
    sinfo -N -o '%N %T %G %C %m' || true
    sacctmgr -n show assoc format=cluster,account,user,fairshare,qos || true
    ;;
  down)
    stop_daemon slurmd
    stop_daemon slurmctld
    stop_daemon slurmdbd
    mariadb-admin shutdown >/dev/null 2>&1 || true
    stop_daemon munged /run/munge/munged.pid
    say "stopped"
    ;;
  *) fail "unknown command '$1' (up, add-user NAME..., reset-usage NAME..., epilog PATH [CONFIG], epilog-remove [CONFIG], status, down)" "" 64 ;;
esac
