// End-to-end integrity with real daemons: the node's checksums reach the head's index, a pull
// checks every file it writes against them, a damaged or truncated archive on the head fails
// that job's files alone (named, exit 1) while every other job's files arrive, and `verify`
// re-checks what is on disk. Archives are damaged in the head's state dir, as a disk would.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { TestCluster } from '../helpers/cluster.js';

const JOBS = ['a', 'b', 'c', 'd', 'e'];

function batchYaml(): string {
  const command = (j: string) =>
    j === 'd'
      ? // incompressible and over 1 MiB: streamed by the node as a plain tar
        'head -c 3000000 /dev/urandom > "$DISTRIBUTE_SAVE/big.bin" && echo d > "$DISTRIBUTE_SAVE/out.txt"'
      : `echo result of ${j} > "$DISTRIBUTE_SAVE/out.txt"`;
  return ['meta:', '  batch_name: sums', '  namespace: lab', '  capabilities: [shell]', 'shell:', '  jobs:', ...JOBS.flatMap((j) => [`    - name: ${j}`, `      command: ${JSON.stringify(command(j))}`]), ''].join('\n');
}

interface VerifyJson {
  counts: { ok: number; mismatch: number; missing: number; unchecked: number };
  problems: { job: string; file: string; verdict: string; reason: string }[];
}

describe('integrity: checksums from node to pull', () => {
  let c: TestCluster;
  let file: string;
  const archive = (job: string) => join(c.stateDir, 'archive', 'lab', 'sums', `${job}.tar.gz`);
  const originals = new Map<string, Buffer>();
  const restore = () => {
    for (const [job, bytes] of originals) writeFileSync(archive(job), bytes);
  };
  const flip = (job: string, offset: number) => {
    const bytes = readFileSync(archive(job));
    bytes[offset] = bytes[offset]! ^ 0xff;
    writeFileSync(archive(job), bytes);
  };
  const pull = (save: string, ...more: string[]) => c.cli(['pull', file, '--save-dir', save, ...more]);
  const verify = (save: string, ...more: string[]) => c.cli(['verify', 'sums', '--save-dir', save, '--json', ...more]);

  before(async () => {
    c = await TestCluster.start({ nodes: [{ name: 'n1', capabilities: ['shell'], cpus: 2 }] });
    file = join(c.root, 'sums.yaml');
    writeFileSync(file, batchYaml());
    const add = await c.cli(['add', file]);
    assert.equal(add.code, 0, add.stderr);
    await c.head.events('result_archived', JOBS.length, (l) => String(l.path).includes('/lab/sums/'), 60_000);
    for (const j of JOBS) originals.set(j, readFileSync(archive(j)));
  });
  after(async () => c?.stop());

  it("indexes the node's checksums: every result was checked on arrival", () => {
    const archived = c.head.lines.filter((l) => l.event === 'result_archived' && String(l.path).includes('/lab/sums/'));
    assert.equal(archived.length, JOBS.length);
    for (const l of archived) assert.equal(l.checked, true, `${String(l.path)} arrived without the node's checksums`);
    assert.notDeepEqual([...originals.get('d')!.subarray(0, 2)], [0x1f, 0x8b], 'd is a plain tar');
    assert.deepEqual([...originals.get('b')!.subarray(0, 2)], [0x1f, 0x8b], 'b is gzip');
  });

  it('one byte flipped in an archive: the pull exits 1 naming the job and the file, every other job arrives and verifies', async () => {
    // d: inside big.bin's body (the first member: header at 0, body from 512), which the head
    // relays without noticing; b: inside the gzip stream, which the head cannot inflate whole
    assert.match(originals.get('d')!.subarray(0, 100).toString('latin1'), /^big\.bin/);
    flip('d', 512 + 100_000);
    flip('b', Math.floor(originals.get('b')!.length / 2));
    try {
      const save = join(c.root, 'save-flip');
      const r = await pull(save);
      assert.equal(r.code, 1, `exit 1 expected:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /error: job d: big\.bin: its SHA-256 .* is not the .* the head recorded/);
      assert.match(r.stderr, /error: job b: out\.txt: /);
      assert.equal(existsSync(join(save, 'sums', 'd', 'big.bin')), false, 'a damaged file is never placed');
      for (const j of ['a', 'c', 'e']) assert.equal(readFileSync(join(save, 'sums', j, 'out.txt'), 'utf8'), `result of ${j}\n`);
      assert.equal(readFileSync(join(save, 'sums', 'd', 'out.txt'), 'utf8'), 'd\n', "d's intact file still arrives");
      const v = await verify(save, '--job', '^[ace]$');
      assert.equal(v.code, 0, v.stdout + v.stderr);
      const good = JSON.parse(v.stdout) as VerifyJson;
      assert.ok(good.counts.ok >= 3, v.stdout);
      assert.equal(good.counts.mismatch + good.counts.missing, 0);
    } finally {
      restore();
    }
  });

  it('a truncated archive fails its job alone: the jobs after it are pulled, exit 1', async () => {
    // cut before its first member's body ends (a file the stream did deliver whole would be
    // kept: its checksum proves it)
    writeFileSync(archive('a'), originals.get('a')!.subarray(0, 40));
    try {
      const save = join(c.root, 'save-cut');
      const r = await pull(save, '--json');
      assert.equal(r.code, 1, r.stderr);
      const out = JSON.parse(r.stdout) as { damaged: { job: string; error: string }[]; failed: { job: string; file: string; reason: string }[] };
      assert.deepEqual(out.damaged.map((d) => d.job), ['a']);
      assert.ok(out.failed.some((f) => f.job === 'a' && f.file === 'out.txt'), JSON.stringify(out.failed));
      assert.ok(out.failed.every((f) => f.job === 'a'), JSON.stringify(out.failed));
      assert.equal(existsSync(join(save, 'sums', 'a', 'out.txt')), false);
      for (const j of ['b', 'c', 'e']) assert.equal(readFileSync(join(save, 'sums', j, 'out.txt'), 'utf8'), `result of ${j}\n`);
      assert.equal(readFileSync(join(save, 'sums', 'd', 'big.bin')).length, 3_000_000);
      await c.head.event('archive_damaged', (l) => l.job === 'a');
      const v = await verify(save, '--job', '^[b-e]$');
      assert.equal(v.code, 0, v.stdout + v.stderr);
    } finally {
      restore();
    }
  });

  it('verify passes after a pull, then names a pulled file changed on disk', async () => {
    const save = join(c.root, 'save-verify');
    const r = await pull(save);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /checked against the SHA-256 the head recorded/);
    const ok = await verify(save);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as VerifyJson).counts.mismatch, 0);
    // from inside the save folder, where the batch's own folder bears its name
    const here = await c.cli(['verify', 'sums'], { cwd: save });
    assert.equal(here.code, 0, here.stdout + here.stderr);
    assert.match(here.stdout, /lab\/sums in .*: \d+ ok, 0 mismatched, 0 missing/);
    const target = join(save, 'sums', 'c', 'out.txt');
    const bytes = readFileSync(target);
    bytes[0] = bytes[0]! ^ 0x01;
    writeFileSync(target, bytes);
    const bad = await verify(save);
    assert.equal(bad.code, 1);
    const report = JSON.parse(bad.stdout) as VerifyJson;
    assert.deepEqual(report.problems.map((p) => [p.job, p.file, p.verdict]), [['c', 'out.txt', 'mismatch']]);
    const text = await c.cli(['verify', 'sums', '--save-dir', save]);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /MISMATCH +job c: out\.txt: SHA-256/);
  });

  it('results archived before checksums still pull, and verify says no checksum recorded', async () => {
    const db = new Database(join(c.stateDir, 'distribute.db'));
    db.prepare(`UPDATE archive_members SET sha256 = NULL WHERE job_id = (SELECT id FROM jobs WHERE name = 'e')`).run();
    db.close();
    const save = join(c.root, 'save-old');
    const r = await pull(save);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(save, 'sums', 'e', 'out.txt'), 'utf8'), 'result of e\n');
    const v = await verify(save);
    assert.equal(v.code, 0, v.stdout);
    const report = JSON.parse(v.stdout) as VerifyJson;
    assert.ok(report.problems.length > 0 && report.problems.every((p) => p.job === 'e' && p.verdict === 'unchecked' && /no checksum recorded/.test(p.reason)), v.stdout);
  });
});
