// Allocation queues end to end on a real single-node Slurm (test/e2e/slurm/up.sh): a head
// whose head.yaml has an allocation queue submits pilots with sbatch (through submit_prefix,
// here `env SLURM_CONF=...`), the pilots dial back over 127.0.0.1 as `uni-<job id>`, run the
// jobs no lab node can, and leave when idle; the head cleans their folders.
// In CI (CI=true) this must run; elsewhere it is skipped, loudly, where Slurm cannot run.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AllocQueueInfo } from '../../shared/protocol/alloc-api.js';
import { TestCluster } from '../helpers/cluster.js';
import { batchFile, downSlurm, queue, squeue, unavailable, upSlurm } from './slurm/alloc.js';
import { until } from '../helpers/until.js';

describe('allocation queues on Slurm', { skip: unavailable ? `Slurm unavailable: ${unavailable}` : false }, () => {
  before(upSlurm);
  after(downSlurm);

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
});
