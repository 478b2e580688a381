#!/usr/bin/env bash
# Stop the single-node Slurm cluster started by start-slurm.sh.
#   stop-slurm.sh            cancel all jobs, stop slurmctld and slurmd (munged keeps running)
#   stop-slurm.sh --all      also stop munged
#   stop-slurm.sh --purge    also wipe slurmctld/slurmd state (job ids restart at 1)
# Only processes named in the pid files written by the daemons are signalled.
set -euo pipefail

CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_PID=/run/munge/munged.pid
STOP_ALL=0
PURGE=0
for a in "$@"; do
  case "$a" in
    --all) STOP_ALL=1 ;;
    --purge) PURGE=1 ;;
    *) echo "usage: $0 [--all] [--purge]" >&2; exit 2 ;;
  esac
done

pid_of() {  # pid_of PIDFILE: the pid, if its process is the daemon the file is named after
  local pid
  [ -s "$1" ] || return 0
  pid=$(cat "$1")
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$(basename "$1" .pid)" ]; then echo "$pid"; fi
}
alive() {  # alive PID: running and not a zombie
  [ -n "$1" ] || return 1
  case "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" in
    ''|Z|X) return 1 ;;
  esac
}

wait_gone() {  # wait_gone PID SECONDS -> 0 if gone
  local pid=$1 n=$(( $2 * 10 ))
  while alive "$pid" && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
  ! alive "$pid"
}

stop_pid() {  # stop_pid NAME PIDFILE
  local pid; pid=$(pid_of "$2")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 15; then
      echo "stop-slurm: $1 ($pid) ignored SIGTERM, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 5 || true
    fi
  fi
  rm -f "$2"
}

ctld=$(pid_of "$CTLD_PID")
slurmd=$(pid_of "$SLURMD_PID")

if alive "$ctld"; then
  # cancel every job so no job step outlives the daemons
  jobs=$(squeue -h -o '%A' 2>/dev/null || true)
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 1 100); do
      [ -z "$(squeue -h -o '%A' 2>/dev/null || true)" ] && break
      sleep 0.1
    done
  fi
  # asks slurmctld and every slurmd to shut down
  scontrol shutdown >/dev/null 2>&1 || true
fi
if alive "$slurmd"; then wait_gone "$slurmd" 15 || true; fi
if alive "$ctld"; then wait_gone "$ctld" 15 || true; fi
stop_pid slurmd "$SLURMD_PID"
stop_pid slurmctld "$CTLD_PID"

if [ "$STOP_ALL" = 1 ]; then
  stop_pid munged "$MUNGE_PID"
fi
if [ "$PURGE" = 1 ]; then
  rm -rf /var/spool/slurmctld/* /var/spool/slurmd/*
fi
echo "stop-slurm: stopped"
