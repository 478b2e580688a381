#!/usr/bin/env bash
# Start a single-node Slurm 22.05 cluster (munged + slurmctld + slurmd) on this machine, for the
# tests of yanex's Slurm executor (tests/test_slurm_cluster.py).  Needs root and Debian's packages
# (installed here when missing: slurmctld slurmd slurm-client munge).  Idempotent: running it
# again while the cluster is up only checks that it is up.  About 10 s on a fresh machine.
#
# No systemd and no cgroups: processes are tracked with proctrack/linuxproc, TaskPlugin=task/none.
# No slurmdbd either: yanex follows jobs with squeue, which needs no accounting database.
#
# Environment knobs (all optional):
#   SLURM_START_TIMEOUT  seconds to wait for each daemon / the node (default 60)
#   SLURM_NODE_CPUS      CPUs to advertise (default: the real count from `slurmd -C`); more than
#                        real is allowed (SlurmdParameters=config_overrides)
#   SLURM_PARTITION      partition name (default: debug)
#   SLURM_MAX_ARRAY_SIZE most jobs in one array (default 1001, Slurm's own; CI sets a small one
#                        so that the tests see a batch split into several arrays)
set -euo pipefail

TIMEOUT="${SLURM_START_TIMEOUT:-60}"
PARTITION="${SLURM_PARTITION:-debug}"
MAX_ARRAY_SIZE="${SLURM_MAX_ARRAY_SIZE:-1001}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
CTLD_SPOOL=/var/spool/slurmctld
SLURMD_SPOOL=/var/spool/slurmd
LOG_DIR=/var/log/slurm
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_PID=/run/munge/munged.pid

die() { echo "start-slurm: ERROR: $*" >&2; exit 1; }
log() { echo "start-slurm: $*"; }

[ "$(id -u)" = 0 ] || die "must run as root"

T_ALL=$(date +%s.%N)
T_PHASE=$T_ALL
phase_done() {  # phase_done NAME: print the time since the last phase ended
  local now; now=$(date +%s.%N)
  awk -v a="$T_PHASE" -v b="$now" -v n="$1" 'BEGIN{printf "start-slurm: phase %-9s %6.1fs\n", n, b-a}'
  T_PHASE=$now
}

pid_alive() {  # pid_alive PIDFILE: its process runs (and is not a reused pid)
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  # the pid file is named after the daemon (/run/slurmd.pid -> slurmd), and a
  # killed daemon can linger as a zombie until PID 1 reaps it: check both
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$(basename "$1" .pid)" ] || return 1
  case "$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)" in
    ''|Z|X) return 1 ;;
  esac
}

wait_for() {  # wait_for DESCRIPTION LOGFILE COMMAND...
  local what=$1 logf=$2; shift 2
  local deadline=$(( $(date +%s) + TIMEOUT ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "start-slurm: ERROR: timed out after ${TIMEOUT}s waiting for $what" >&2
      if [ -n "$logf" ] && [ -f "$logf" ]; then
        echo "---- last lines of $logf ----" >&2; tail -n 30 "$logf" >&2
      fi
      exit 1
    fi
    sleep 0.2
  done
}

# ---------------------------------------------------------------- install
PKGS=(slurmctld slurmd slurm-client munge)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # keep the packages' maintainer scripts from starting services
  added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    added_policy=1
  fi
  apt_install() {
    apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
  }
  # refresh the package lists only when they lack the packages or are stale
  # (an install from stale lists fails with 404s)
  if ! apt-cache show "${missing[@]}" >/dev/null 2>&1 || ! apt_install; then
    log "apt-get update (package lists missing or stale)"
    apt-get update -q
    apt_install
  fi
  if [ "$added_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
phase_done install

# ---------------------------------------------------------------- munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating /etc/munge/munge.key"
  install -d -o munge -g munge -m 0700 /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
if ! pid_alive "$MUNGE_PID"; then
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged
fi
wait_for "munge to work (munge -n | unmunge)" /var/log/munge/munged.log bash -c 'munge -n | unmunge'
phase_done munge

# ---------------------------------------------------------------- config
NODE=$(hostname -s)
# `slurmd -C` prints e.g.
#   NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105
#   UpTime=0-01:02:03
HW=$(slurmd -C | head -n 1)
get_hw() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$HW"; }
REAL_CPUS=$(get_hw CPUs)
MEM=$(get_hw RealMemory)
[ -n "$REAL_CPUS" ] && [ -n "$MEM" ] || die "could not parse 'slurmd -C' output: $HW"
CPUS="${SLURM_NODE_CPUS:-$REAL_CPUS}"

install -d -m 0755 "$CONF_DIR" "$LOG_DIR"
install -d -m 0700 "$CTLD_SPOOL" "$SLURMD_SPOOL"

NEW_CONF=$(cat <<EOF
# Written by start-slurm.sh: single-node test cluster without systemd/cgroups.
ClusterName=ci
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
StateSaveLocation=${CTLD_SPOOL}
SlurmdSpoolDir=${SLURMD_SPOOL}
SlurmctldPidFile=${CTLD_PID}
SlurmdPidFile=${SLURMD_PID}
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldPort=6817
SlurmdPort=6818
# quick turnaround for tests
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MessageTimeout=10
KillWait=5
MinJobAge=300
MaxArraySize=${MAX_ARRAY_SIZE}
InactiveLimit=0
SlurmdTimeout=300
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM} State=UNKNOWN
PartitionName=${PARTITION} Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP
EOF
)

conf_changed=0
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$NEW_CONF" ]; then
  printf '%s\n' "$NEW_CONF" > "$CONF"
  chmod 0644 "$CONF"
  conf_changed=1
fi
if [ "$conf_changed" = 1 ] && { pid_alive "$CTLD_PID" || pid_alive "$SLURMD_PID"; }; then
  log "configuration changed: restarting the slurm daemons"
  "$HERE/stop-slurm.sh"
fi
phase_done config

# ---------------------------------------------------------------- daemons
ctld_started=0
if ! pid_alive "$CTLD_PID"; then
  log "starting slurmctld"
  slurmctld
  ctld_started=1
fi
wait_for "slurmctld to answer (scontrol ping)" "$LOG_DIR/slurmctld.log" \
  bash -c 'scontrol ping | grep -q "is UP"'
if [ "$ctld_started" = 1 ] && ! pid_alive "$SLURMD_PID"; then
  # Jobs left in the saved state by daemons that were killed (not stopped with
  # stop-slurm.sh) would be requeued and run again: cancel them while no
  # slurmd is up to run them.  Job ids keep counting up.
  leftover=$(squeue -h -o '%A' | tr '\n' ' ')
  if [ -n "${leftover// /}" ]; then
    log "cancelling jobs left over from an unclean stop: $leftover"
    # shellcheck disable=SC2086
    scancel $leftover
  fi
fi

if ! pid_alive "$SLURMD_PID"; then
  log "starting slurmd"
  slurmd
fi
wait_for "slurmd to start (pid file)" "$LOG_DIR/slurmd.log" pid_alive "$SLURMD_PID"

node_idle() {
  local st; st=$(sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n 1)
  case "$st" in
    idle|mixed|allocated|completing) return 0 ;;
    down*|drain*|drained*)
      # left over from an earlier run: bring it back
      scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
      return 1 ;;
    *) return 1 ;;
  esac
}
wait_for "node $NODE to become idle in sinfo" "$LOG_DIR/slurmd.log" node_idle
phase_done daemons

# One tiny job proves the whole chain (munge, slurmctld, slurmd, slurmstepd)
# works.  (The first *batch* job after a fresh slurmctld start still waits
# ~3s before it is scheduled; later ones start within ~1s.)
if [ "$ctld_started" = 1 ]; then
  if ! out=$(timeout "$TIMEOUT" srun -J start-slurm-probe -t 1 -N 1 -n 1 hostname 2>&1); then
    echo "start-slurm: ERROR: probe job (srun hostname) failed: $out" >&2
    tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2
    exit 1
  fi
  phase_done probe
fi

awk -v a="$T_ALL" -v b="$(date +%s.%N)" 'BEGIN{printf "start-slurm: total %.1fs\n", b-a}'
sinfo
