// A full disk on the head, with real daemons: the head's state dir is a 20 MB tmpfs, a batch's
// results fill it, the head refuses what it cannot store (507) and says so once, the node keeps
// its results and retries; when the test frees space (it deletes a filler file of its own),
// every job ends done exactly once, with no daemon restarted and no other command issued.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import * as tar from 'tar';
import { stringify } from 'yaml';
import type { StatusBatch } from '../../shared/protocol/api.js';
import { TestCluster } from '../helpers/cluster.js';
import { until } from '../helpers/until.js';
import { spooledAttempts } from '../../compute/results.js';

const MB = 1024 * 1024;

/** Mounts a tmpfs of `size` at `dir`; the reason when this machine does not allow it. */
function mountTmpfs(dir: string, size: string): string | null {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `cannot mount a tmpfs here (${String((err as { stderr?: Buffer }).stderr ?? err).trim()}): this test needs root and mount permission`;
  }
}

function unmount(dir: string): void {
  execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
}

const free = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

/** The members of a job's archive on the head, with their sizes. */
async function members(c: TestCluster, batch: string, job: string): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  await tar.t({ file: join(c.stateDir, 'archive', 'disk', batch, `${job}.tar.gz`), onReadEntry: (e) => found.set(e.path.replace(/^\.\//, ''), e.size ?? 0) });
  return found;
}

async function metrics(c: TestCluster): Promise<string> {
  const res = await fetch(`${c.url.replace(/^ws/, 'http')}/metrics`, { headers: { authorization: `Bearer ${await c.user('alice')}` } });
  assert.equal(res.status, 200);
  return res.text();
}

describe('full disk: the head state dir on a 20 MB tmpfs', () => {
  let c: TestCluster | null = null;
  let mounted: string | null = null;
  afterEach(async () => {
    // the daemons go first: a mount point in use cannot be unmounted
    for (const d of c?.history ?? []) d.kill();
    await Promise.all((c?.history ?? []).map((d) => d.stop('SIGKILL')));
    if (mounted) unmount(mounted);
    mounted = null;
    await c?.stop();
    c = null;
  });

  it('refuses results it cannot store with 507, logs "state dir full" once, and takes every result exactly once when space returns', async (t) => {
    let skip: string | null = null;
    c = await TestCluster.start({
      head: { heartbeat: 0.25 },
      beforeHead: (dir) => {
        skip = mountTmpfs(dir, '20m');
        if (!skip) mounted = dir;
      },
    });
    if (skip) {
      t.skip(skip);
      return;
    }
    const stateDir = c.stateDir;
    await c.startNode({ name: 'n', cpus: 2 });

    // leave about 5 MB: room for two of the six 2 MB results, not for all; once the filler is gone, room for all
    const filler = join(stateDir, 'filler');
    const fillerSize = Math.max(0, free(stateDir) - 5 * MB);
    writeFileSync(filler, Buffer.alloc(fillerSize, 1));

    const file = join(c.root, 'full.yaml');
    const jobs = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => ({ name, command: `head -c 2000000 /dev/urandom > "$DISTRIBUTE_SAVE/out"` }));
    writeFileSync(file, stringify({ meta: { batch_name: 'full', namespace: 'disk' }, shell: { jobs } }));
    const added = await c.cli(['add', file]);
    assert.equal(added.code, 0, added.stderr);

    const n = c.node('n');
    const head = c.head;
    // the node hears a clear refusal, keeps the result and backs off
    const refused = await n.waitFor((l) => l.event === 'result_upload_failed' && /^507 /.test(String(l.reason)), 'a 507 answer to an upload', 60_000);
    assert.match(String(refused.reason), /state dir|no space/i);
    assert.ok(Number(refused.retry_ms) > 0);
    await head.event('state_dir_full');
    // a few more refusals within the episode: still one "state dir full"
    await n.events('result_upload_failed', 4, (l) => /^507 /.test(String(l.reason)), 60_000);
    assert.equal(head.count('state_dir_full'), 1, 'once per episode');
    assert.ok(spooledAttempts(join(c.workDirs.get('n')!, '.spool')).length > 0, 'the node keeps what the head refused');
    let st = (await c.statusOf('full'))!;
    assert.ok(st.counts.done < 6, `not every result fit (done: ${st.counts.done})`);

    // seen from outside: /metrics and `doctor --config head.yaml` show the state dir's free space
    const scraped = await metrics(c);
    assert.match(scraped, /^distribute_state_dir_full 1$/m);
    const freeBytes = Number(/^distribute_state_dir_free_bytes (\d+)$/m.exec(scraped)?.[1]);
    assert.ok(freeBytes >= 0 && freeBytes < 20 * MB, `free bytes ${freeBytes}`);
    assert.match(scraped, /^distribute_state_dir_size_bytes 20971520$/m);
    const doctor = await c.cli(['doctor', '--config', join(c.root, 'head.yaml'), '--head', c.url, '--json']);
    const disk = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks.find((k) => k.name === 'disk');
    assert.ok(disk, doctor.stdout + doctor.stderr);
    assert.match(disk.detail, new RegExp(`free of 20\\.0 MiB for state_dir ${stateDir}`));
    assert.equal(disk.status, 'FAIL');

    // space comes back: the test deletes its filler, and issues nothing else
    rmSync(filler);
    await head.event('state_dir_space');
    await until(async () => {
      st = (await c!.statusOf('full'))!;
      return st.counts.done === 6;
    }, 'every job done once space returned', 90_000, 200);
    assert.deepEqual(
      st.jobs.map((j) => [j.name, j.state, j.attempt]),
      jobs.map((j) => [j.name, 'done', 1]),
      'each job done with its first attempt: none ran twice',
    );
    // nothing half-written: no temp file left, one archive per job and nothing else, each indexed
    assert.deepEqual(readdirSync(join(stateDir, 'archive', '.tmp')), [], 'no partial upload left');
    assert.deepEqual(readdirSync(join(stateDir, 'archive', 'disk', 'full')).sort(), jobs.map((j) => `${j.name}.tar.gz`));
    const db = new Database(join(stateDir, 'distribute.db'), { readonly: true });
    try {
      const indexed = db.prepare(`SELECT j.name, m.size FROM archive_members m JOIN jobs j ON j.id = m.job_id WHERE m.path = 'out' ORDER BY j.name`).all();
      assert.deepEqual(indexed, jobs.map((j) => ({ name: j.name, size: 2_000_000 })), 'the index knows each result once');
      const attempts = db.prepare(`SELECT j.name, COUNT(*) AS n FROM attempts a JOIN jobs j ON j.id = a.job_id GROUP BY j.name ORDER BY j.name`).all();
      assert.deepEqual(attempts, jobs.map((j) => ({ name: j.name, n: 1 })), 'one attempt per job');
    } finally {
      db.close();
    }
    for (const j of jobs) assert.equal((await members(c, 'full', j.name)).get('out'), 2_000_000, `${j.name}'s result whole in the archive`);
    assert.equal(n.count('assigned'), 6, 'six assignments, none repeated');
    assert.equal(head.count('state_dir_full'), 1);
    assert.match(await metrics(c), /^distribute_state_dir_full 0$/m);
    await until(() => spooledAttempts(join(c!.workDirs.get('n')!, '.spool')).length === 0, 'an empty spool', 10_000);
    assert.equal(c.history.length, 2, 'no daemon was restarted');
  });

  it('refuses an input upload it cannot store with 507, leaves no temp file, and takes it once there is room', async (t) => {
    let skip: string | null = null;
    c = await TestCluster.start({
      beforeHead: (dir) => {
        skip = mountTmpfs(dir, '12m');
        if (!skip) mounted = dir;
      },
    });
    if (skip) {
      t.skip(skip);
      return;
    }
    const stateDir = c.stateDir;
    const filler = join(stateDir, 'filler');
    writeFileSync(filler, Buffer.alloc(Math.max(0, free(stateDir) - 2 * MB), 1));
    const input = Buffer.alloc(4 * MB, 7);
    const hash = createHash('sha256').update(input).digest('hex');
    const token = await c.user('alice');
    const put = () => fetch(`${c!.url.replace(/^ws/, 'http')}/v1/inputs/${hash}`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: input });

    const refused = await put();
    assert.equal(refused.status, 507);
    assert.match(((await refused.json()) as { error: string }).error, new RegExp(`state dir is full .*input ${hash} was not stored`));
    // the head's log is written in the background: its line may follow the answer by a moment
    await c.head.event('state_dir_full');
    assert.equal(c.head.count('state_dir_full'), 1);
    assert.equal(c.head.count('input_stored'), 0);
    // the failed upload's temp file is gone, or the disk would stay full
    const large = (readdirSync(stateDir, { recursive: true }) as string[]).filter((f) => f !== 'filler' && statSync(join(stateDir, f)).size > MB);
    assert.deepEqual(large, []);

    rmSync(filler);
    const stored = await put();
    assert.equal(stored.status, 201, await stored.text());
    await c.head.event('input_stored');
    assert.equal(c.head.count('input_stored'), 1);
  });

  it('a compute daemon stops on the first SIGTERM while its upload waits on a head that never answers, and hands its running job back', async () => {
    c = await TestCluster.start({ nodes: [{ name: 'n', cpus: 2 }] });
    const n = c.node('n');
    const gate = join(c.root, 'gate');
    const file = join(c.root, 'stop.yaml');
    writeFileSync(file, stringify({ meta: { batch_name: 'stop', namespace: 'disk' }, shell: { jobs: [
      { name: 'big', command: `while [ ! -e '${gate}' ]; do sleep 0.05; done; head -c 8000000 /dev/urandom > "$DISTRIBUTE_SAVE/out"` },
      { name: 'held', command: 'sleep 120' },
    ] } }));
    assert.equal((await c.cli(['add', file])).code, 0);
    await n.events('started', 2);
    const bigAttempt = Number(n.lines.find((l) => l.event === 'assigned' && l.job === 'big')!.attempt);

    // the head stops answering (its process frozen: connections open, nothing read); the
    // finished job's upload then waits for an answer that does not come
    process.kill(c.head.pid, 'SIGSTOP');
    try {
      writeFileSync(gate, '');
      await until(() => spooledAttempts(join(c!.workDirs.get('n')!, '.spool')).includes(bigAttempt), 'the result of big in the spool', 20_000);
      const t0 = Date.now();
      n.child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => n.child.once('exit', (code) => resolve(code)));
      const tookMs = Date.now() - t0;
      assert.equal(code, 0, n.raw.slice(-10).join('\n'));
      assert.ok(tookMs < 45_000, `stopping took ${tookMs} ms`);
      assert.equal(n.count('returned'), 1, 'the running job was handed back');
    } finally {
      process.kill(c.head.pid, 'SIGCONT');
    }
    // the head reads the hand-back it was sent; the finished job's result waits in the node's spool
    await c.head.event('attempt_vacated', (l) => l.node === 'n');
    assert.ok(spooledAttempts(join(c.workDirs.get('n')!, '.spool')).includes(bigAttempt), 'the result is kept for the next start');
  });
});
