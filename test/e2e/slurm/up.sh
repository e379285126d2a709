#!/bin/bash
# Brings up a single-node Slurm on loopback for the end-to-end tests, all its state in DIR.
#   usage: up.sh DIR        (env SLURMCTLD_PORT, SLURMD_PORT: ports to use; default 6817, 6818;
#                            SLURM_CONF_EXTRA: lines appended to slurm.conf, e.g. MaxArraySize=4001)
# Prints one line: SLURM_CONF=DIR/slurm.conf slurmctld=PID slurmd=PID. Stop it with down.sh DIR.
# Needs root and Debian's slurm-wlm and munge packages (apt-get install -y slurm-wlm munge).
# munged is shared by everything on the machine: it is started when missing and left running.
set -euo pipefail
dir=$(realpath -m "${1:?usage: up.sh DIR}")
here=$(cd "$(dirname "$0")" && pwd)
for tool in slurmctld slurmd sbatch munged; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || { echo "up.sh: $tool is not installed (apt-get install -y slurm-wlm munge)" >&2; exit 3; }
done
mkdir -p "$dir"/{state,spool,log}
host=$(hostname -s)
memory=$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
sed -e "s#@DIR@#$dir#g" -e "s#@HOST@#$host#g" -e "s#@CPUS@#$(nproc)#" -e "s#@MEMORY@#$memory#" \
    -e "s#@CTLD_PORT@#${SLURMCTLD_PORT:-6817}#" -e "s#@SLURMD_PORT@#${SLURMD_PORT:-6818}#" \
    "$here/slurm.conf.in" > "$dir/slurm.conf"
[ -z "${SLURM_CONF_EXTRA:-}" ] || printf '%s\n' "$SLURM_CONF_EXTRA" >> "$dir/slurm.conf"
export SLURM_CONF=$dir/slurm.conf

mkdir -p /run/munge && chown munge:munge /run/munge
if [ ! -f /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
fi
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
for _ in $(seq 200); do munge -n >/dev/null 2>&1 && break; sleep 0.05; done
munge -n >/dev/null || { echo "up.sh: munged does not answer" >&2; exit 1; }

/usr/sbin/slurmctld -f "$SLURM_CONF" -i
/usr/sbin/slurmd -f "$SLURM_CONF"
for _ in $(seq 200); do
  sinfo -h -o %T 2>/dev/null | grep -q idle && break
  sleep 0.05
done
if ! sinfo -h -o %T 2>/dev/null | grep -q idle; then
  echo "up.sh: the node did not become idle; see $dir/log/" >&2
  tail -n 20 "$dir"/log/*.log >&2 || true
  exit 1
fi
echo "SLURM_CONF=$SLURM_CONF slurmctld=$(cat "$dir/slurmctld.pid") slurmd=$(cat "$dir/slurmd.pid")"
