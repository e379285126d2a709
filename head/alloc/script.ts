// The pilot's sbatch script: a compute daemon of this head, named `<queue>-$SLURM_JOB_ID`,
// with the allocation's token, capabilities and resources, which knows its walltime's end
// and exits after idle_timeout with nothing to do. Its config, work dir and Slurm log live in
// the queue's folder: `pilot-<id>/` and `slurm-<id>.out`, removed by the head once the pilot
// has ended. The token is only in the script (sent on sbatch's stdin) and in the pilot's
// config (mode 0600).
import type { AllocationConfig } from '../../shared/config.js';
import { formatSlurmSize, formatSlurmTime } from '../../shared/spec/units.js';

export interface PilotScript {
  queue: AllocationConfig;
  /** the queue's folder, absolute, as the pilots see it */
  dir: string;
  headUrl: string;
  token: string;
  /** the command line that runs `distribute` on the pilot */
  command: readonly string[];
}

export function jobName(queue: string): string {
  return `distribute-${queue}`;
}

/** Single-quoted for sh. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function pilotScript(p: PilotScript): string {
  const q = p.queue;
  const directives = [
    `--job-name=${jobName(q.name)}`,
    `--time=${formatSlurmTime(q.time_limit / 1000)}`,
    '--nodes=1',
    '--ntasks=1',
    `--cpus-per-task=${q.resources.cpus}`,
    ...(q.resources.memory !== undefined ? [`--mem=${formatSlurmSize(q.resources.memory)}`] : []),
    ...(q.resources.gpus > 0 ? [`--gres=gpu:${q.resources.gpus}`] : []),
    `--output=${p.dir}/slurm-%j.out`,
    ...q.sbatch_args,
  ];
  // YAML block mapping with JSON values: nothing in them is read by the shell (quoted heredoc)
  const config = [
    `head: ${JSON.stringify(p.headUrl)}`,
    `token: ${JSON.stringify(p.token)}`,
    `capabilities: ${JSON.stringify(q.capabilities)}`,
    'work_dir: work',
    // the pilot runs as the user Slurm gave the allocation to, inside Slurm's own containment:
    // its jobs are that user's, as a job Slurm ran directly would be (no uids of its own)
    'job_uids: none',
    `resources: ${JSON.stringify({ cpus: q.resources.cpus, ...(q.resources.memory !== undefined ? { memory: `${Math.floor(q.resources.memory / 1024 ** 2)}M` } : {}), gpus: q.resources.gpus })}`,
  ];
  const limit = Math.floor(q.time_limit / 1000);
  return [
    '#!/bin/sh',
    ...directives.map((d) => `#SBATCH ${d}`),
    '# a pilot of the distribute head: a compute daemon that leaves when idle',
    'set -eu',
    'umask 077',
    'start=$(date +%s)',
    `work=${shellQuote(p.dir)}/pilot-$SLURM_JOB_ID`,
    'mkdir -p "$work"',
    `cat > "$work/compute.yaml" <<'DISTRIBUTE_PILOT'`,
    ...config,
    'DISTRIBUTE_PILOT',
    `printf 'name: "%s"\\npilot: {idle_timeout: %s, ends_at: %s}\\n' ${shellQuote(`${q.name}-`)}"$SLURM_JOB_ID" ${Math.floor(q.idle_timeout / 1000)} "$((start + ${limit}))" >> "$work/compute.yaml"`,
    `exec ${p.command.map(shellQuote).join(' ')} compute --config "$work/compute.yaml"`,
    '',
  ].join('\n');
}
