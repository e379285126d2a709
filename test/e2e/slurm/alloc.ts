// What the allocation end-to-end tests share: a Slurm of their own per file, the queue of
// head.yaml they start from, squeue of the pilots, and a batch of short shell jobs.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../helpers/cli.js';
import { runCommand, slurmUnavailable, startSlurm, type SlurmCluster } from './cluster.js';

export const unavailable = slurmUnavailable();
if (unavailable && process.env.CI === 'true') {
  throw new Error(`CI=true but Slurm cannot run here: ${unavailable}; the allocation end-to-end tests must not be skipped in CI`);
}
if (unavailable) {
  process.stderr.write(`\n${'!'.repeat(78)}\n!! SKIPPING the allocation end-to-end tests: ${unavailable}\n${'!'.repeat(78)}\n\n`);
}

let tmp: { dir: string; cleanup: () => void } | null = null;
let slurm: SlurmCluster | null = null;

export async function upSlurm(): Promise<SlurmCluster> {
  tmp = tempDir('distribute-e2e-alloc-');
  slurm = await startSlurm(join(tmp.dir, 'slurm'));
  return slurm;
}

export async function downSlurm(): Promise<void> {
  await slurm?.stop();
  tmp?.cleanup();
}

export function slurmConf(): string {
  return slurm!.conf;
}

export function queue(o: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'uni',
    backend: 'slurm',
    capabilities: ['shell', 'uni-only'],
    resources: { cpus: 2 },
    max_pilots: 2,
    time_limit: '10m',
    idle_timeout: '4s',
    poll: '1s',
    backoff: '1s',
    submit_prefix: ['env', `SLURM_CONF=${slurm!.conf}`],
    ...o,
  };
}

export async function squeue(name = 'distribute-uni'): Promise<string[]> {
  const r = await runCommand('squeue', ['-h', `--name=${name}`, '-o', '%i'], { SLURM_CONF: slurm!.conf });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

export function batchFile(dir: string, name: string, jobs: number, o: { time?: string; command?: string; capabilities?: string[] } = {}): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `meta: {batch_name: ${name}, namespace: burst, capabilities: [${(o.capabilities ?? ['uni-only']).join(', ')}]}
shell:
  jobs:
    - name: job_{i}
      parameters: {i: [${Array.from({ length: jobs }, (_, i) => i + 1).join(', ')}]}
      command: ${JSON.stringify(o.command ?? 'echo "$DISTRIBUTE_JOB_NAME" > "$DISTRIBUTE_SAVE/out.txt"; sleep 0.3')}
      resources: {cpus: 1, time: ${o.time ?? '1m'}}
`,
  );
  return file;
}

