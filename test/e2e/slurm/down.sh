#!/bin/bash
# Stops the Slurm that up.sh DIR started: slurmd and slurmctld, by the pids in DIR. munged stays.
set -uo pipefail
dir=$(realpath -m "${1:?usage: down.sh DIR}")
for daemon in slurmd slurmctld; do
  pidfile=$dir/$daemon.pid
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || continue
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
done
