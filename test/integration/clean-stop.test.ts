// A compute daemon stopped with SIGTERM (as systemd stops it): it tells the head it is
// draining, hands its running jobs back (they finish on another node), or with
// --drain-timeout lets them finish first. Real daemons, real jobs, processes checked in /proc.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TestCluster, type Daemon } from '../helpers/cluster.js';
import { isAlive, waitFor } from '../compute/support.js';

interface JobStatus {
  name: string;
  state: string;
  node: string | null;
  attempt: number;
}

/** A batch of jobs that each wait for `gate` to exist, then write which node ran them. */
function gatedBatch(c: TestCluster, name: string, gate: string, jobs = ['sim']): string {
  const dir = join(c.root, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'batch.yaml');
  writeFileSync(file, stringify({
    meta: { batch_name: name, namespace: 'stop', capabilities: ['shell'] },
    shell: { jobs: jobs.map((j) => ({ name: j, command: `while [ ! -e '${gate}' ]; do sleep 0.05; done; echo "$DISTRIBUTE_ATTEMPT" > "$DISTRIBUTE_SAVE/attempt.txt"` })) },
  }));
  return file;
}

async function jobs(c: TestCluster, batch: string): Promise<JobStatus[]> {
  const all = await c.json<{ batch_name: string; jobs: JobStatus[] }[]>(['status']);
  return all.find((b) => b.batch_name === batch)?.jobs ?? [];
}

async function untilJob(c: TestCluster, batch: string, job: string, ok: (j: JobStatus) => boolean, what: string): Promise<JobStatus> {
  let found: JobStatus | undefined;
  await waitFor(async () => ((found = (await jobs(c, batch)).find((j) => j.name === job)), !!found && ok(found)), what, 20_000, 100);
  return found!;
}

function exitOf(d: Daemon): Promise<number | null> {
  return new Promise((resolve) => {
    if (d.child.exitCode !== null || d.child.signalCode !== null) resolve(d.child.exitCode);
    else d.child.once('exit', (code) => resolve(code));
  });
}

/** What `result.json` in the archived result of a job says. */
function archivedResult(c: TestCluster, batch: string, job: string): { node: string; attempt: number; exit_code: number } {
  const r = spawnSync('tar', ['-xzOf', join(c.stateDir, 'archive', 'stop', batch, `${job}.tar.gz`), '_distribute/result.json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { node: string; attempt: number; exit_code: number };
}

describe('compute daemon stopped with SIGTERM', () => {
  let c: TestCluster | undefined;
  afterEach(async () => {
    await c?.stop();
    c = undefined;
  });

  it('hands its running job back at once; the job is requeued and finishes on another node', async () => {
    c = await TestCluster.start({ nodes: [{ name: 'leaving', capabilities: ['shell'] }] });
    const gate = join(c.root, 'gate-1');
    assert.equal((await c.cli(['add', gatedBatch(c, 'handback', gate)])).code, 0);
    const leaving = c.node('leaving');
    const started = await leaving.event('started');
    const pid = Number(started.pid);
    assert.ok(isAlive(pid));
    await untilJob(c, 'handback', 'sim', (j) => j.state === 'running' && j.node === 'leaving', 'the job to run on the leaving node');
    await c.startNode({ name: 'staying', capabilities: ['shell'] });

    const t0 = Date.now();
    leaving.child.kill('SIGTERM');
    assert.equal(await exitOf(leaving), 0, leaving.raw.slice(-10).join('\n'));
    const tookMs = Date.now() - t0;
    // the job's whole process group is gone, and the head heard it from the node, not by losing it
    assert.equal(isAlive(pid), false, 'the job outlived its daemon');
    assert.ok(leaving.count('returned') === 1, 'the node handed the job back');
    await c.head.event('attempt_vacated');
    // then its `finished` freed what it held there
    await c.head.event('attempt_finished', (l) => l.outcome === 'released');
    assert.ok(tookMs < 5000, `stopping took ${tookMs} ms`);

    const moved = await untilJob(c, 'handback', 'sim', (j) => j.node === 'staying' && j.state === 'running', 'the job to run on the other node');
    assert.equal(moved.attempt, 2);
    writeFileSync(gate, '');
    const done = await untilJob(c, 'handback', 'sim', (j) => j.state === 'done', 'the job to finish');
    assert.equal(done.node, 'staying');
    const result = archivedResult(c, 'handback', 'sim');
    assert.deepEqual([result.node, result.attempt, result.exit_code], ['staying', 2, 0]);
    // the leaving node kept nothing of it
    assert.equal(existsSync(join(c.workDirs.get('leaving')!, 'stop', 'handback', 'sim', 'attempt-1')), false);
  });

  it('with --drain-timeout, lets the running job finish there, while the head places nothing new on it', async () => {
    c = await TestCluster.start({ nodes: [{ name: 'draining', capabilities: ['shell'], cpus: 2, args: ['--drain-timeout', '60s'] }] });
    const gate = join(c.root, 'gate-2');
    assert.equal((await c.cli(['add', gatedBatch(c, 'drain', gate)])).code, 0);
    const node = c.node('draining');
    await untilJob(c, 'drain', 'sim', (j) => j.state === 'running', 'the job to run');
    node.child.kill('SIGTERM');
    await node.event('draining');
    await waitFor(async () => (await c!.json<{ name: string; state: string }[]>(['nodes'])).some((n) => n.name === 'draining' && n.state === 'draining'), 'the head to see the node draining', 10_000, 100);

    // a job added now would fit (2 cpus, 1 used) but must not be placed on a draining node
    const later = join(c.root, 'gate-later');
    assert.equal((await c.cli(['add', gatedBatch(c, 'later', later)])).code, 0);
    writeFileSync(gate, '');
    assert.equal(await exitOf(node), 0, node.raw.slice(-10).join('\n'));
    const done = await untilJob(c, 'drain', 'sim', (j) => j.state === 'done', 'the drained job to be archived');
    assert.deepEqual([done.node, done.attempt], ['draining', 1]);
    assert.equal(node.count('returned'), 0);
    const [queued] = await jobs(c, 'later');
    assert.equal(queued!.state, 'queued');
  });

  it('with a --drain-timeout that runs out, hands back what still runs', async () => {
    c = await TestCluster.start({ nodes: [{ name: 'impatient', capabilities: ['shell'], args: ['--drain-timeout', '1s'] }] });
    const gate = join(c.root, 'gate-3');
    assert.equal((await c.cli(['add', gatedBatch(c, 'timeout', gate)])).code, 0);
    const node = c.node('impatient');
    await untilJob(c, 'timeout', 'sim', (j) => j.state === 'running', 'the job to run');
    const t0 = Date.now();
    node.child.kill('SIGTERM');
    assert.equal(await exitOf(node), 0);
    const took = Date.now() - t0;
    assert.ok(took >= 1000 && took < 6000, `stopped after ${took} ms`);
    assert.equal(node.count('returned'), 1);
    const back = await untilJob(c, 'timeout', 'sim', (j) => j.state === 'queued', 'the job to be queued again');
    assert.equal(back.node, null);
  });
});
