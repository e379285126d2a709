// Allocation queues end to end on a real single-node Slurm, when things go wrong: sbatch
// refusing, pilots that never join, a pilot cancelled mid-job.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AllocQueueInfo } from '../../shared/protocol/alloc-api.js';
import { TestCluster } from '../helpers/cluster.js';
import { runCommand } from './slurm/cluster.js';
import { batchFile, downSlurm, queue, slurmConf, squeue, unavailable, upSlurm } from './slurm/alloc.js';
import { until } from '../helpers/until.js';

describe('allocation queues on Slurm, failing', { skip: unavailable ? `Slurm unavailable: ${unavailable}` : false }, () => {
  before(upSlurm);
  after(downSlurm);

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
      const cancel = await runCommand('scancel', [jobId], { SLURM_CONF: slurmConf() });
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
