// Pulling again and again, as researchers do: a pull killed half-way resumes without fetching
// what it already has, a repeated pull fetches nothing, --force rewrites, a pull while the batch
// runs brings the finished jobs and says how many are still to come, and rm frees the space it
// reports. A real head and node; the kill happens behind a proxy that stalls the download at a
// known byte count, so the client is stopped mid-file every time.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import Database from 'better-sqlite3';
import { TestCluster } from '../helpers/cluster.js';
import { CLI, spawnCli } from '../helpers/cli.js';
import { spawn } from 'node:child_process';
import { StallProxy } from '../helpers/stall-proxy.js';
import { partName } from '../../src/remote/extract.js';
import { until } from '../helpers/until.js';

const WAIT_MS = 20_000;

const MiB = 1024 * 1024;
const BIG_JOBS = ['j1', 'j2', 'j3', 'j4', 'j5'];

function shellBatch(name: string, jobs: { name: string; command: string }[]): string {
  return ['meta:', `  batch_name: ${name}`, '  namespace: lab', '  capabilities: [shell]', 'shell:', '  jobs:', ...jobs.flatMap((j) => [`    - name: ${j.name}`, `      command: ${JSON.stringify(j.command)}`]), ''].join('\n');
}

/** Every file under dir, relative, with what identifies its copy on disk. */
function files(dir: string): Map<string, { size: number; ino: number; ctimeMs: number; mtimeMs: number }> {
  const out = new Map<string, { size: number; ino: number; ctimeMs: number; mtimeMs: number }>();
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const full = join(e.parentPath, e.name);
    const st = statSync(full);
    out.set(posix.relative(dir, full), { size: st.size, ino: st.ino, ctimeMs: st.ctimeMs, mtimeMs: st.mtimeMs });
  }
  return out;
}

interface PullJson {
  fetched: { files: number; bytes: number };
  present: { files: number; bytes: number };
  selected: { files: number; bytes: number };
  unfinished: number;
}

describe('pull again: resume, skip, force, running batches, rm', () => {
  let c: TestCluster;
  let bigFile: string;
  let save: string;
  before(async () => {
    c = await TestCluster.start({ nodes: [{ name: 'n1', capabilities: ['shell'], cpus: 2 }] });
    bigFile = join(c.root, 'big.yaml');
    save = join(c.root, 'save');
    // 8 MiB of zeros per job (gzip makes it small on the wire to the head; the pull is plain tar)
    writeFileSync(bigFile, shellBatch('big', BIG_JOBS.map((j) => ({ name: j, command: `head -c ${8 * MiB} /dev/zero > "$DISTRIBUTE_SAVE/out.bin" && echo ${j} > "$DISTRIBUTE_SAVE/small.txt"` }))));
    const add = await c.cli(['add', bigFile]);
    assert.equal(add.code, 0, add.stderr);
    await c.head.events('result_archived', BIG_JOBS.length, (l) => String(l.path).includes('/lab/big/'), 60_000);
  });
  after(async () => c?.stop());

  it('resumes a pull killed mid-file without fetching again what it already has', async () => {
    // 20 MiB: j1 and j2 whole, j3 stopped inside its out.bin
    const proxy = await StallProxy.start(c.url, 20 * MiB);
    const dest = join(save, 'big');
    const pull = spawnCli(['pull', bigFile, '--save-dir', save, '--head', proxy.url], { env: c.env(await c.user('alice')), stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((r) => pull.once('exit', () => r()));
    try {
      await proxy.stalled;
      const part = join(dest, 'j3', partName('out.bin'));
      await until(() => existsSync(part) && statSync(part).size > 0 && existsSync(join(dest, 'j2', 'out.bin')), 'the client blocked inside j3/out.bin', WAIT_MS);
      pull.kill('SIGKILL');
      await exited;
    } finally {
      pull.kill('SIGKILL');
      await proxy.stop();
    }
    await c.head.event('pull_interrupted');

    const before = files(dest);
    assert.ok(before.has('j1/out.bin') && before.has('j2/out.bin'), [...before.keys()].join(' '));
    assert.equal(before.has('j3/out.bin'), false, 'a partial file is under its real name');
    assert.ok(before.has(`j3/${partName('out.bin')}`), 'the kill left its temp file');
    for (const [p, f] of before) if (p.endsWith('out.bin')) assert.equal(f.size, 8 * MiB, p);
    const whole = [...before.keys()].filter((p) => !p.includes('.dpart-'));

    const pulledBefore = c.head.count('pulled');
    const r = await c.cli(['pull', bigFile, '--save-dir', save, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as PullJson;
    assert.equal(out.present.files, whole.length);
    assert.equal(out.fetched.files, out.selected.files - whole.length);
    await c.head.events('pulled', pulledBefore + 1);
    const logged = c.head.lines.filter((l) => l.event === 'pulled').at(-1)!;
    assert.equal(logged.members, out.fetched.files, 'the head sent only the missing files');
    assert.equal(logged.bytes, out.fetched.bytes);

    const after = files(dest);
    for (const p of whole) {
      assert.equal(after.get(p)!.ino, before.get(p)!.ino, `${p} was written again`);
      assert.equal(after.get(p)!.ctimeMs, before.get(p)!.ctimeMs, `${p} was touched`);
    }
    for (const j of BIG_JOBS) assert.equal(after.get(`${j}/out.bin`)?.size, 8 * MiB, j);
    assert.deepEqual([...after.keys()].filter((p) => p.includes('.dpart-')), [], 'temp files left after a whole pull');
  });

  it('fetches nothing when everything is already there', async () => {
    const pulledBefore = c.head.count('pulled');
    const r = await c.cli(['pull', bigFile, '--save-dir', save]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^pulled 0 files \(0 B\) of lab\/big/m);
    assert.match(r.stdout, /^\d+ files \(40\.\d MiB\) already there with the same size and time: skipped/m);
    assert.equal(c.head.count('pulled'), pulledBefore, 'a download was asked for');
  });

  it('fetches again a file whose size or time changed, and rewrites everything with --force', async () => {
    const dest = join(save, 'big');
    writeFileSync(join(dest, 'j4', 'small.txt'), 'edited locally\n');
    const r = await c.cli(['pull', bigFile, '--save-dir', save, '--json']);
    assert.equal((JSON.parse(r.stdout) as PullJson).fetched.files, 1);
    assert.equal(statSync(join(dest, 'j4', 'small.txt')).size, 'j4\n'.length);

    const before = files(dest);
    const f = await c.cli(['pull', bigFile, '--save-dir', save, '--force', '--json']);
    assert.equal(f.code, 0, f.stderr);
    const out = JSON.parse(f.stdout) as PullJson;
    assert.equal(out.fetched.files, out.selected.files);
    assert.equal(out.present.files, 0);
    const after = files(dest);
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
    for (const [p, a] of after) {
      assert.notEqual(a.ino, before.get(p)!.ino, `${p} was not rewritten`);
      assert.equal(a.size, before.get(p)!.size);
      assert.equal(a.mtimeMs, before.get(p)!.mtimeMs, 'the archived time is kept');
    }
  });

  it('draws a progress bar (bytes, rate, files) on a terminal', async () => {
    const term = join(c.root, 'term');
    // script(1) gives the CLI a pseudo-terminal; its output is what the terminal showed
    const env = { ...process.env, ...c.env(await c.user('alice')) };
    const cmd = [process.execPath, CLI, 'pull', bigFile, '--save-dir', term].map((a) => `'${a}'`).join(' ');
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\r +\d+% \[[#-]+\] [\d.]+ (B|KiB|MiB) \/ 40\.\d MiB  [\d.]+ (B|KiB|MiB|GiB)\/s  \d+\/\d+ files\x1b\[K/);
    assert.match(r.stdout, /\r\x1b\[Kpulled \d+ files \(40\.\d MiB\) of lab\/big/, 'the bar is erased before the summary');
    const plain = await c.cli(['pull', bigFile, '--save-dir', join(c.root, 'plain'), '--force']);
    assert.doesNotMatch(plain.stdout + plain.stderr, /\r|files\x1b/, 'no bar off a terminal');
  });

  it('pulls the finished jobs of a running batch, says how many are to come, and the rest later', async () => {
    const flag = join(c.root, 'release-slow');
    // the waiting jobs end by themselves after ~30 s even if the test fails
    const wait = `i=0; while [ ! -e ${flag} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo late > "$DISTRIBUTE_SAVE/late.txt"`;
    const slowFile = join(c.root, 'slow.yaml');
    writeFileSync(slowFile, shellBatch('slow', [
      { name: 'fast1', command: 'echo a > "$DISTRIBUTE_SAVE/a.txt"' },
      { name: 'fast2', command: 'echo b > "$DISTRIBUTE_SAVE/b.txt"' },
      { name: 'wait1', command: wait },
      { name: 'wait2', command: wait },
      { name: 'wait3', command: wait },
    ]));
    assert.equal((await c.cli(['add', slowFile])).code, 0);
    await c.head.events('result_archived', 2, (l) => /\/lab\/slow\/fast\d\.tar\.gz$/.test(String(l.path)));

    const r = await c.cli(['pull', slowFile, '--save-dir', save, '--exclude', '_distribute/']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^pulled 2 files .* of lab\/slow/m);
    assert.match(r.stdout, /^3 jobs still queued or running: their results are still to come; pull again later$/m);
    assert.deepEqual([...files(join(save, 'slow')).keys()].sort(), ['fast1/a.txt', 'fast2/b.txt']);

    const refused = await c.cli(['rm', 'slow', '--yes']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /lab\/slow: 3 jobs are still queued or running; kill the batch first, or remove with --force/);

    writeFileSync(flag, '');
    await c.head.events('result_archived', 5, (l) => String(l.path).includes('/lab/slow/'));
    const again = await c.cli(['pull', slowFile, '--save-dir', save, '--exclude', '_distribute/', '--json']);
    const out = JSON.parse(again.stdout) as PullJson;
    assert.equal(out.unfinished, 0);
    assert.equal(out.present.files, 2);
    assert.equal(out.fetched.files, 3);
    assert.deepEqual([...files(join(save, 'slow')).keys()].sort(), ['fast1/a.txt', 'fast2/b.txt', 'wait1/late.txt', 'wait2/late.txt', 'wait3/late.txt']);
  });

  it('rm frees the space it reports, after a confirmation, for its owner only', async () => {
    const folder = join(c.stateDir, 'archive', 'lab', 'slow');
    const onDisk = [...files(folder).values()].reduce((n, f) => n + f.size, 0);
    assert.ok(onDisk > 0);

    const unconfirmed = await c.cli(['rm', 'slow']);
    assert.equal(unconfirmed.code, 2);
    assert.match(unconfirmed.stderr, /confirm with --yes/);
    const bob = await c.cli(['rm', 'slow', '--namespace', 'lab', '--yes'], { user: 'bob' });
    assert.equal(bob.code, 2);
    assert.match(bob.stderr, /namespace lab belongs to alice/);
    assert.ok(existsSync(folder));

    const r = await c.cli(['rm', 'slow', '--yes', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { bytes: number; jobs: number; batch_removed: boolean };
    assert.equal(out.bytes, onDisk);
    assert.equal(out.jobs, 5);
    assert.equal(out.batch_removed, true);
    assert.equal(existsSync(folder), false);
    const status = await c.json<{ batch_name: string }[]>(['status']);
    assert.deepEqual(status.map((b) => b.batch_name), ['big']);

    // the name is free again, under a new id (nodes remember builds by batch id)
    const db = new Database(join(c.stateDir, 'distribute.db'), { readonly: true });
    const removedId = (db.prepare(`SELECT id FROM removed_batches WHERE name = 'slow'`).get() as { id: number }).id;
    db.close();
    assert.equal((await c.cli(['add', join(c.root, 'slow.yaml')])).code, 0);
    const db2 = new Database(join(c.stateDir, 'distribute.db'), { readonly: true });
    const newId = (db2.prepare(`SELECT id FROM batches WHERE name = 'slow'`).get() as { id: number }).id;
    db2.close();
    assert.ok(newId > removedId, `${newId} > ${removedId}`);
  });

  it('rm --job deletes one job\'s results and the batch stays', async () => {
    const archive = (job: string) => join(c.stateDir, 'archive', 'lab', 'big', `${job}.tar.gz`);
    const r = await c.cli(['rm', 'big', '--job', 'j1', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^removed the results of 1 job of lab/big/j1 \\(\\d+ files\\): .* freed on the head$`, 'm'));
    assert.equal(existsSync(archive('j1')), false);
    const size = statSync(archive('j2')).size;
    const json = await c.cli(['rm', 'big', '--job', 'j2', '--yes', '--json']);
    assert.equal((JSON.parse(json.stdout) as { bytes: number }).bytes, size);
    assert.equal(existsSync(archive('j2')), false);
    const plan = await c.cli(['pull', bigFile, '--dry', '--json', '--save-dir', join(c.root, 'elsewhere')]);
    const jobs = new Set((JSON.parse(plan.stdout) as { members: { job: string }[] }).members.map((m) => m.job));
    assert.deepEqual([...jobs].sort(), ['j3', 'j4', 'j5']);
    const status = await c.json<{ batch_name: string; counts: { done: number } }[]>(['status']);
    assert.equal(status.find((b) => b.batch_name === 'big')!.counts.done, 5);
  });
});
