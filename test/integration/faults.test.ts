// Faults of issue 5 with real daemons: a hung node, a compute daemon killed under its jobs,
// an archive folder the head cannot write, and jobs that fail and run again under `retries`.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import * as tar from 'tar';
import { stringify } from 'yaml';
import type { StatusBatch } from '../../shared/protocol/api.js';
import { TestCluster, type Daemon, type LogLine } from '../helpers/cluster.js';
import { isAlive, waitFor } from '../compute/support.js';
import { spooledAttempts } from '../../compute/results.js';
import { RunningRecords } from '../../compute/leftovers.js';

/** Writes a shell batch file into the cluster's folder. */
function batchFile(c: TestCluster, name: string, jobs: Record<string, unknown>[], meta: Record<string, unknown> = {}): string {
  const file = join(c.root, `${name}.yaml`);
  writeFileSync(file, stringify({ meta: { batch_name: name, namespace: 'faults', ...meta }, shell: { jobs } }));
  return file;
}

async function add(c: TestCluster, file: string): Promise<void> {
  const r = await c.cli(['add', file]);
  assert.equal(r.code, 0, r.stderr);
}

async function settled(c: TestCluster, batch: string, timeoutMs = 30_000): Promise<StatusBatch> {
  let st: StatusBatch | null = null;
  await waitFor(async () => {
    st = await c.statusOf(batch);
    return st !== null && st.counts.done + st.counts.failed + st.counts.cancelled === st.jobs.length;
  }, `every job of ${batch} to end`, timeoutMs, 100);
  return st!;
}

/** The content of one member of a job's archive on the head. */
async function archived(c: TestCluster, batch: string, job: string, member: string): Promise<string | null> {
  let text: string | null = null;
  await tar.t({
    file: join(c.stateDir, 'archive', 'faults', batch, `${job}.tar.gz`),
    onReadEntry: (e) => {
      if (e.path.replace(/^\.\//, '') !== member) return e.resume();
      const parts: Buffer[] = [];
      e.on('data', (d: Buffer) => parts.push(d));
      e.on('end', () => (text = Buffer.concat(parts).toString('utf8')));
    },
  });
  return text;
}

/** The attempt ids a node was assigned, by job name. */
function assignedOn(d: Daemon): Map<string, number> {
  return new Map(d.lines.filter((l) => l.event === 'assigned').map((l) => [String(l.job), Number(l.attempt)]));
}

const spoolOf = (c: TestCluster, node: string) => join(c.workDirs.get(node)!, '.spool');

describe('faults: hung and killed nodes, a full disk, retries', () => {
  let c: TestCluster | null = null;
  afterEach(async () => {
    await c?.stop();
    c = null;
  });

  it('loses a hung node after node_timeout and runs its jobs elsewhere; after SIGCONT its stale attempt is killed and its late result refused', async () => {
    c = await TestCluster.start({ head: { node_timeout: 1.5, heartbeat: 0.25 }, nodes: [{ name: 'hung', cpus: 2 }] });
    const pids = c.root;
    // the first attempts are the slow ones, so the second (elsewhere) ends quickly
    await add(c, batchFile(c, 'hang', [
      { name: 'long', command: `echo $$ > ${pids}/long-$DISTRIBUTE_ATTEMPT; if [ "$DISTRIBUTE_ATTEMPT" = 1 ]; then sleep 25; fi; echo "$DISTRIBUTE_ATTEMPT" > "$DISTRIBUTE_SAVE/out"` },
      // long enough to outlast the spare node's start on a loaded machine, so it is still running when `hung` stops
      { name: 'short', command: `if [ "$DISTRIBUTE_ATTEMPT" = 1 ]; then sleep 5; fi; echo "$DISTRIBUTE_ATTEMPT" > "$DISTRIBUTE_SAVE/out"` },
    ]));
    const hung = c.node('hung');
    await hung.events('started', 2);
    const first = assignedOn(hung);
    await c.startNode({ name: 'spare', cpus: 2 });

    const stoppedAt = Date.now();
    process.kill(hung.pid, 'SIGSTOP');
    try {
      await c.head.event('node_lost', (l) => l.node === 'hung', 10_000);
      assert.ok(Date.now() - stoppedAt >= 1200, `lost after ${Date.now() - stoppedAt} ms: not before node_timeout (less a heartbeat)`);
      const spare = c.node('spare');
      await spare.events('started', 2, () => true, 10_000);
      const st = await settled(c, 'hang');
      assert.deepEqual(st.jobs.map((j) => [j.name, j.state, j.node, j.attempt]), [['long', 'done', 'spare', 2], ['short', 'done', 'spare', 2]]);
      const stale = Number(readFileSync(join(pids, 'long-1'), 'utf8'));
      assert.ok(isAlive(stale), 'the hung node\'s job goes on while its daemon is stopped');
    } finally {
      process.kill(hung.pid, 'SIGCONT');
    }

    // back: told to drop what it held; the stale job dies long before its 25 s sleep would end
    const stale = Number(readFileSync(join(pids, 'long-1'), 'utf8'));
    await hung.event('drop', (l) => l.attempt === first.get('long'), 10_000);
    await waitFor(() => !isAlive(stale), 'the stale attempt\'s process to be killed', 15_000);
    // the short job finished while the daemon was stopped: its result is refused (409) or dropped
    await hung.waitFor((l) => l.attempt === first.get('short') && (l.event === 'result_stale' || l.event === 'drop'), 'the late result refused', 10_000);
    await waitFor(() => spooledAttempts(spoolOf(c!, 'hung')).length === 0, 'the hung node\'s spool to be empty');
    assert.equal(await archived(c, 'hang', 'long', 'out'), '2\n');
    assert.equal(await archived(c, 'hang', 'short', 'out'), '2\n');
    const hungAttempts = [...first.values()];
    assert.deepEqual(c.head.lines.filter((l) => l.event === 'result_archived' && hungAttempts.includes(Number(l.attempt))), [], 'nothing of the hung node archived');
  });

  it('keeps every running job through a SIGKILL of the head and a restart seconds later: its nodes are back within node_timeout', async () => {
    c = await TestCluster.start({ head: { node_timeout: 1.5, heartbeat: 0.25 }, nodes: [{ name: 'a', cpus: 2 }, { name: 'b', cpus: 2 }] });
    const started = join(c.root, 'started');
    await add(c, batchFile(c, 'steady', ['w', 'x', 'y', 'z'].map((name) => ({ name, command: `echo "$DISTRIBUTE_ATTEMPT" >> ${started}-${name}; sleep 5; echo ${name} > "$DISTRIBUTE_SAVE/out"` }))));
    await Promise.all(['a', 'b'].map((n) => c!.node(n).events('started', 2)));
    const old = c.head;
    // down for longer than node_timeout: the nodes' redials must not have backed off past it
    const head = await c.restartHead(2500);
    assert.notEqual(head, old);
    // each node says hello again holding its two jobs; the head keeps them all
    const joined = await Promise.all(['a', 'b'].map((n) => head.event('node_joined', (l) => l.node === n, 10_000)));
    for (const j of joined) {
      assert.equal((j.kept as unknown[]).length, 2, `node ${j.node} kept its jobs`);
      assert.deepEqual(j.requeued, []);
    }
    const st = await settled(c, 'steady', 20_000);
    assert.deepEqual(st.jobs.map((j) => [j.name, j.state, j.attempt]), [['w', 'done', 1], ['x', 'done', 1], ['y', 'done', 1], ['z', 'done', 1]]);
    for (const name of ['w', 'x', 'y', 'z']) {
      assert.equal(readFileSync(`${started}-${name}`, 'utf8'), '1\n', `${name} ran once`);
      assert.equal(await archived(c, 'steady', name, 'out'), `${name}\n`);
    }
    assert.equal(head.count('node_lost'), 0);
  });

  it('kills on restart the jobs a SIGKILLed compute daemon left running, and the head runs them again at once', async () => {
    // a long node_timeout: the requeue can only come from the restarted node's hello
    c = await TestCluster.start({ head: { node_timeout: 60 }, nodes: [{ name: 'n', cpus: 1 }] });
    const dir = c.root;
    await add(c, batchFile(c, 'orphans', [
      { name: 'o', command: `if [ "$DISTRIBUTE_ATTEMPT" = 1 ]; then sleep 25 & echo $! > ${dir}/child; echo $$ > ${dir}/leader; wait; fi; echo "$DISTRIBUTE_ATTEMPT" > "$DISTRIBUTE_SAVE/out"` },
    ]));
    await waitFor(() => existsSync(join(dir, 'leader')) && existsSync(join(dir, 'child')), 'the job to write its pids');
    await c.node('n').event('started');
    const [leader, child] = ['leader', 'child'].map((f) => Number(readFileSync(join(dir, f), 'utf8'))) as [number, number];
    const records = join(c.workDirs.get('n')!, '.running');
    assert.equal(new RunningRecords(records).list().length, 1, 'the running job is recorded in the work dir');

    await c.node('n').stop('SIGKILL');
    assert.ok(isAlive(leader) && isAlive(child), 'the job outlives its daemon');
    const restartedAt = Date.now();
    const again = await c.restartNode('n');
    const killed = await again.event('leftover_killed');
    // under a cgroup the start-up sweep of the previous run's cgroups kills them first
    const swept = again.lines.find((l) => l.event === 'containment_swept');
    assert.equal(Number(killed.processes) + Number(swept?.processes ?? 0), 2);
    assert.ok(!isAlive(leader) && !isAlive(child), 'the leftover group is gone before the daemon dials the head');
    assert.deepEqual(new RunningRecords(records).list(), []);

    const st = await settled(c, 'orphans', 20_000);
    assert.deepEqual(st.jobs.map((j) => [j.name, j.state, j.attempt]), [['o', 'done', 2]]);
    assert.ok(Date.now() - restartedAt < 20_000, 'requeued at the hello, not after node_timeout');
    const joined = c.head.lines.find((l) => l.event === 'node_joined' && Array.isArray(l.requeued) && (l.requeued as unknown[]).length === 1);
    assert.ok(joined, 'the head requeued the forgotten attempt when the node said hello');
  });

  it('keeps results on the node while the archive folder is unwritable, across a restart of the node, and takes them once it is writable', async (t) => {
    c = await TestCluster.start({ nodes: [{ name: 'n', cpus: 2 }] });
    const archive = join(c.stateDir, 'archive');
    if (!setWritable(archive, false)) {
      t.skip('cannot make a folder unwritable on this machine');
      return;
    }
    try {
      await add(c, batchFile(c, 'disk', ['a', 'b', 'c'].map((name) => ({ name, command: `sleep 0.2; echo ${name} > "$DISTRIBUTE_SAVE/out"` }))));
      const n = c.node('n');
      await n.waitFor((l) => l.event === 'result_upload_failed' && new Set(n.lines.filter((x) => x.event === 'result_upload_failed').map((x) => x.attempt)).size === 3, 'three refused uploads', 20_000);
      const loud = c.head.lines.find((l) => l.event === 'result_write_failed');
      assert.ok(loud, 'the head logs the failed write');
      assert.equal(loud.level, 50, 'at error level');
      const st = await c.statusOf('disk');
      assert.deepEqual(st!.jobs.map((j) => j.state), ['running', 'running', 'running'], 'finished, their results not archived yet');
      assert.equal(spooledAttempts(spoolOf(c, 'n')).length, 3);

      // the node dies and comes back: its spool is offered again, nothing runs twice
      const again = await c.restartNode('n');
      const joined = await c.head.event('node_joined', (l: LogLine) => Array.isArray(l.kept) && (l.kept as unknown[]).length === 3);
      assert.deepEqual(joined.requeued, []);
      await again.event('result_upload_failed');
    } finally {
      setWritable(archive, true);
    }
    const st = await settled(c, 'disk');
    assert.deepEqual(st.jobs.map((j) => [j.name, j.state, j.attempt]), [['a', 'done', 1], ['b', 'done', 1], ['c', 'done', 1]]);
    for (const job of ['a', 'b', 'c']) assert.equal(await archived(c, 'disk', job, 'out'), `${job}\n`);
    await waitFor(() => spooledAttempts(spoolOf(c!, 'n')).length === 0, 'an empty spool');
  });

  it('runs a failed job again under retries: N; a job without retries fails once', async () => {
    c = await TestCluster.start({ nodes: [{ name: 'n', cpus: 2 }] });
    await add(c, batchFile(c, 'flaky', [
      { name: 'third_time', retries: 2, command: '[ "$DISTRIBUTE_ATTEMPT" -ge 3 ] || exit 1; echo ok > "$DISTRIBUTE_SAVE/out"' },
      { name: 'hopeless', command: 'exit 4' },
      { name: 'plain', retries: 0, command: 'exit 5' },
    ], { retries: 1 }));
    const st = await settled(c, 'flaky');
    assert.deepEqual(st.jobs.map((j) => [j.name, j.state, j.attempt, j.exit_code]), [
      ['third_time', 'done', 3, 0],
      ['hopeless', 'failed', 2, 4], // the batch's retries: 1
      ['plain', 'failed', 1, 5], // its own retries: 0
    ]);
    assert.equal(await archived(c, 'flaky', 'third_time', 'out'), 'ok\n');
    c.head.kill();
    await waitFor(() => c!.head.child.exitCode !== null || c!.head.child.signalCode !== null, 'the head to exit');
    const db = new Database(join(c.stateDir, 'distribute.db'), { readonly: true });
    try {
      const rows = db.prepare(`SELECT j.name, a.number, a.state, a.exit_code FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.name = 'third_time' ORDER BY a.number`).all();
      assert.deepEqual(rows, [
        { name: 'third_time', number: 1, state: 'archived', exit_code: 1 },
        { name: 'third_time', number: 2, state: 'archived', exit_code: 1 },
        { name: 'third_time', number: 3, state: 'archived', exit_code: 0 },
      ]);
    } finally {
      db.close();
    }
  });
});

/** Makes a folder tree (un)writable: chmod for a user, `chattr +i` for root (which chmod does not stop). False when it cannot. */
function setWritable(dir: string, writable: boolean): boolean {
  try {
    if (process.getuid?.() === 0) execFileSync('chattr', ['-R', writable ? '-i' : '+i', dir], { stdio: 'ignore' });
    else execFileSync('chmod', ['-R', writable ? 'u+w' : 'a-w', dir], { stdio: 'ignore' });
  } catch {
    return false;
  }
  if (writable) return true;
  const probe = join(dir, '.probe');
  try {
    writeFileSync(probe, '');
  } catch {
    return true;
  }
  rmSync(probe);
  return false;
}
