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

  it('submits no pilot for a job longer than their walltime, says why, and refuses a batch nothing could run', async () => {
    const c = await TestCluster.start({ head: { node_timeout: '2s', allocations: [queue({ max_pilots: 2 })] } });
    try {
      await c.user('root', true);
      // a lab node that once joined with the capability, now gone: the head knows it
      await c.startNode({ name: 'lab1', capabilities: ['lab-only', 'uni-only'] });
      await c.node('lab1').stop('SIGKILL');
      await until(async () => (await c.json<{ name: string; state: string }[]>(['nodes']))[0]?.state === 'lost', 'lab1 lost', 10_000, 100);

      const long = await c.cli(['add', batchFile(c.root, 'long', 4, { time: '1h' })]);
      assert.equal(long.code, 0, long.stderr);
      const waiting = await until(async () => (await c.statusOf('long'))?.jobs[0]?.waiting, 'the long job explained', 10_000, 100);
      assert.match(waiting, /no allocation queue can take it: queue uni: needs 1h 00m, pilots of queue uni run jobs of at most 9m 30s/);
      assert.match(waiting, /node lab1 is not connected/);

      // a short job after it gets exactly the one pilot it wants: the pass that submitted it weighed the long ones too
      assert.equal((await c.cli(['add', batchFile(c.root, 'short', 1)])).code, 0);
      await until(async () => (await c.statusOf('short'))?.counts.done === 1, 'the short job done on a pilot', 90_000, 250);
      const [uni] = await c.json<AllocQueueInfo[]>(['alloc', 'list'], { user: 'root' });
      assert.equal(uni!.pilots.length, 1, 'one pilot, for the short job alone');
      const long2 = await c.statusOf('long');
      assert.equal(long2!.counts.queued, 4);

      const refused = await c.cli(['add', batchFile(c.root, 'never', 2, { time: '1h', capabilities: ['shell'] })]);
      assert.equal(refused.code, 2, refused.stdout);
      assert.match(refused.stderr, /no node and no allocation queue can run batch never/);
      assert.match(refused.stderr, /node lab1 lacks shell/);
      assert.match(refused.stderr, /2 jobs no allocation queue can run: job_1: needs 1h 00m, pilots of queue uni run jobs of at most 9m 30s/);
      assert.equal((await c.statusOf('never')), null, 'nothing queued');
    } finally {
      await c.stop();
    }
  });

  it('stops submitting after max_failures when sbatch refuses, and alloc list shows the error', async () => {
    const c = await TestCluster.start({ head: { allocations: [queue({ sbatch_args: ['--partition=nosuch'], max_failures: 2, backoff: '1s' })] } });
    try {
      await c.user('root', true);
      assert.equal((await c.cli(['add', batchFile(c.root, 'bad', 2)])).code, 0);
      const uni = await until(async () => {
        const [q] = await c.json<AllocQueueInfo[]>(['alloc', 'list'], { user: 'root' });
        return q!.paused === 'failures' ? q : null;
      }, 'the queue paused by failures', 30_000, 250);
      assert.equal(uni.failures, 2);
      assert.equal(uni.pilots.length, 0);
      assert.match(String(uni.last_error), /^sbatch: sbatch exited with 1: .*invalid partition/i);
      const text = await c.cli(['alloc', 'list'], { user: 'root' });
      assert.match(text.stdout, /uni \(slurm\): paused after 2 failed submissions; 0 of at most 2 pilots/);
      assert.match(text.stdout, /last error .*invalid partition/i);
      assert.match(String((await c.statusOf('bad'))!.jobs[0]!.waiting), /allocation queue uni is paused \(after 2 failed submissions: sbatch: /);
      assert.deepEqual(await squeue(), []);

      const resumed = await c.cli(['alloc', 'resume', 'uni'], { user: 'root' });
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(resumed.stdout, /allocation queue uni submits pilots again/);
      // it tries again, fails again, and pauses again after max_failures more
      await until(async () => (await c.json<AllocQueueInfo[]>(['alloc', 'list'], { user: 'root' }))[0]!.paused === 'failures', 'paused again', 30_000, 250);
      assert.equal((await c.cli(['alloc', 'list'], { user: 'alice' })).code, 2, 'admins only');
    } finally {
      await c.stop();
    }
  });

  it('counts pilots that end without joining as failures: no endless resubmission', async () => {
    const c = await TestCluster.start({ head: { allocations: [queue({ command: ['/nonexistent/distribute'], max_failures: 2 })] } });
    try {
      await c.user('root', true);
      assert.equal((await c.cli(['add', batchFile(c.root, 'nostart', 1)])).code, 0);
      const uni = await until(async () => {
        const [q] = await c.json<AllocQueueInfo[]>(['alloc', 'list'], { user: 'root' });
        return q!.paused === 'failures' ? q : null;
      }, 'the queue paused after two pilots that never joined', 60_000, 250);
      assert.equal(uni.pilots.length, 2);
      assert.ok(uni.pilots.every((p) => p.state === 'ended' && /^ended without joining the head/.test(String(p.end_reason))));
      assert.match(String(uni.last_error), /^pilot uni-\d+ ended without joining the head: .*\/nonexistent\/distribute/);
      await until(async () => readdirSync(join(c.stateDir, 'allocations', 'uni')).length === 0, 'their files cleaned', 10_000, 100);
    } finally {
      await c.stop();
    }
  });

  it('runs a job again on another pilot after scancel of its pilot mid-job, archived once', async () => {
    const c = await TestCluster.start({ head: { node_timeout: '2s', allocations: [queue({ max_pilots: 1 })] } });
    try {
      await c.user('root', true);
      const file = batchFile(c.root, 'cut', 1, { command: 'echo "attempt $DISTRIBUTE_ATTEMPT" > "$DISTRIBUTE_SAVE/out.txt"; [ "$DISTRIBUTE_ATTEMPT" -gt 1 ] || sleep 60' });
      assert.equal((await c.cli(['add', file])).code, 0);
      const first = await until(async () => {
        const s = await c.statusOf('cut');
        return s?.jobs[0]?.state === 'running' ? s.jobs[0].node : null;
      }, 'the job running on a pilot', 90_000, 250);
      const jobId = /^uni-(\d+)$/.exec(String(first))![1]!;
      const cancel = await runCommand('scancel', [jobId], { SLURM_CONF: slurm!.conf });
      assert.equal(cancel.code, 0, cancel.stderr);

      const done = await until(async () => {
        const s = await c.statusOf('cut');
        return s?.counts.done === 1 ? s.jobs[0] : null;
      }, 'the job done again elsewhere', 90_000, 250);
      assert.notEqual(done.node, first);
      assert.match(String(done.node), /^uni-\d+$/);
      const [uni] = await c.json<AllocQueueInfo[]>(['alloc', 'list'], { user: 'root' });
      assert.equal(uni!.pilots.find((p) => p.node === first)?.state, 'ended');

      const save = join(c.root, 'pulled');
      const pulled = await c.cli(['pull', file, '--save-dir', save]);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.deepEqual(readdirSync(join(save, 'cut')), ['job_1']);
      assert.ok(existsSync(join(save, 'cut', 'job_1', 'out.txt')));
      const archived = readdirSync(join(c.stateDir, 'archive', 'burst', 'cut'));
      assert.equal(archived.filter((f) => f.startsWith('job_1')).length, 1, `archived once: ${archived.join(', ')}`);
    } finally {
      await c.stop();
    }
  });
});
