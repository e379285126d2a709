// Allocation queues end to end on a real single-node Slurm (test/e2e/slurm/up.sh): a head
// whose head.yaml has an allocation queue submits pilots with sbatch (through submit_prefix,
// here `env SLURM_CONF=...`), the pilots dial back over 127.0.0.1 as `uni-<job id>`, run the
// jobs no lab node can, and leave when idle; the head cleans their folders.
// In CI (CI=true) this must run; elsewhere it is skipped, loudly, where Slurm cannot run.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AllocQueueInfo } from '../../shared/protocol/alloc-api.js';
import { TestCluster } from '../helpers/cluster.js';
import { runCommand, slurmUnavailable, startSlurm, type SlurmCluster } from './slurm/cluster.js';
import { tempDir } from '../helpers/cli.js';
import { until } from '../helpers/until.js';

const unavailable = slurmUnavailable();
if (unavailable && process.env.CI === 'true') {
  throw new Error(`CI=true but Slurm cannot run here: ${unavailable}; the allocation end-to-end test must not be skipped in CI`);
}
if (unavailable) {
  process.stderr.write(`\n${'!'.repeat(78)}\n!! SKIPPING the allocation end-to-end test: ${unavailable}\n${'!'.repeat(78)}\n\n`);
}

let tmp: { dir: string; cleanup: () => void };
let slurm: SlurmCluster | null = null;

function queue(o: Record<string, unknown> = {}): Record<string, unknown> {
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

async function squeue(name = 'distribute-uni'): Promise<string[]> {
  const r = await runCommand('squeue', ['-h', `--name=${name}`, '-o', '%i'], { SLURM_CONF: slurm!.conf });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

function batchFile(dir: string, name: string, jobs: number, o: { time?: string; command?: string; capabilities?: string[] } = {}): string {
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

describe('allocation queues on Slurm', { skip: unavailable ? `Slurm unavailable: ${unavailable}` : false }, () => {
  before(async () => {
    tmp = tempDir('distribute-e2e-alloc-');
    slurm = await startSlurm(join(tmp.dir, 'slurm'));
  });

  after(async () => {
    await slurm?.stop();
    tmp?.cleanup();
  });

  it('bursts a 20-job batch onto pilots that run it and leave when idle, folders cleaned', async () => {
    const c = await TestCluster.start({ head: { node_timeout: '3s', allocations: [queue()] } });
    try {
      await c.user('root', true);
      const add = await c.cli(['add', batchFile(c.root, 'twenty', 20)]);
      assert.equal(add.code, 0, add.stderr);
      assert.match(add.stdout, /no node of the lab can run it: pilots of allocation queue uni will be submitted for it/);

      const done = await until(async () => {
        const s = await c.statusOf('twenty');
        return s && s.counts.done === 20 ? s : null;
      }, 'every job done on pilots', 120_000, 250);
      const nodes = new Set(done.jobs.map((j) => j.node));
      for (const n of nodes) assert.match(String(n), /^uni-\d+$/);
      const [uni] = await c.json<AllocQueueInfo[]>(['alloc', 'list'], { user: 'root' });
      assert.ok(uni!.pilots.length >= 1 && uni!.pilots.length <= 2, `at most max_pilots submitted: ${uni!.pilots.map((p) => p.node).join(', ')}`);
      for (const n of nodes) assert.ok(uni!.pilots.some((p) => p.node === n), `${n} is a pilot of uni`);

      // idle for idle_timeout: the pilots exit, Slurm forgets them, the head cleans up
      await until(async () => (await squeue()).length === 0, 'squeue empty after idle_timeout', 60_000, 250);
      const dir = join(c.stateDir, 'allocations', 'uni');
      const ended = await until(async () => {
        const [q] = await c.json<AllocQueueInfo[]>(['alloc', 'list'], { user: 'root' });
        return q!.pilots.every((p) => p.state === 'ended') && readdirSync(dir).length === 0 ? q : null;
      }, 'pilots ended and their folder cleaned', 30_000, 250);
      assert.equal(ended!.last_error, null);
      const nodesAfter = await c.json<{ name: string }[]>(['nodes']);
      assert.deepEqual(nodesAfter.map((n) => n.name), [], 'ended pilots are not listed as nodes');
    } finally {
      await c.stop();
    }
  });
});
