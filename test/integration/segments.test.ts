// Small results in segment files, end to end with real daemons: a head with
// `small_results: segments` and two compute daemons run small jobs (their results sent in
// messages) and one big one (uploaded over HTTP). The state dir holds segment files and no
// file per small job; pull, verify and logs give the right bytes; a flipped byte in a segment
// fails that job alone; rm of a job shrinks its segment and the rest still pull; and a head
// SIGKILLed while results stream in loses nothing it acknowledged.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { TestCluster } from '../helpers/cluster.js';

const SMALL = Array.from({ length: 24 }, (_, i) => `s${i}`);

function batchYaml(name: string, jobs: string[], big: boolean): string {
  const lines = ['meta:', `  batch_name: ${name}`, '  namespace: lab', '  capabilities: [shell]', 'shell:', '  jobs:'];
  for (const j of jobs) lines.push(`    - name: ${j}`, `      command: ${JSON.stringify(`echo result of ${j} > "$DISTRIBUTE_SAVE/out.txt"; echo log of ${j}`)}`);
  // incompressible and over 1 MiB: uploaded over HTTP, a file of its own
  if (big) lines.push('    - name: big', `      command: ${JSON.stringify('head -c 3000000 /dev/urandom > "$DISTRIBUTE_SAVE/big.bin" && echo big > "$DISTRIBUTE_SAVE/out.txt"')}`);
  return lines.join('\n') + '\n';
}

interface Place {
  job: string;
  segment: string;
  offset: number;
  length: number;
}

function places(stateDir: string, batch: string): Place[] {
  const db = new Database(join(stateDir, 'distribute.db'), { readonly: true });
  try {
    return db
      .prepare('SELECT j.name AS job, s.segment, s.offset, s.length FROM archive_segments s JOIN jobs j ON j.id = s.job_id JOIN batches b ON b.id = j.batch_id WHERE b.name = ? ORDER BY j.name')
      .all(batch) as Place[];
  } finally {
    db.close();
  }
}

describe('segments: small results with real daemons', () => {
  let c: TestCluster;
  let file: string;
  const folder = () => join(c.stateDir, 'archive', 'lab', 'segs');
  const segFile = (s: string) => join(c.stateDir, 'archive', ...s.split('/'));

  before(async () => {
    c = await TestCluster.start({ head: { small_results: 'segments' }, nodes: [{ name: 'n1', capabilities: ['shell'], cpus: 2 }, { name: 'n2', capabilities: ['shell'], cpus: 2 }] });
    file = join(c.root, 'segs.yaml');
    writeFileSync(file, batchYaml('segs', SMALL, true));
    const add = await c.cli(['add', file]);
    assert.equal(add.code, 0, add.stderr);
    await c.head.events('result_archived', SMALL.length + 1, (l) => String(l.path).includes('/lab/segs/'), 90_000);
  });
  after(async () => c?.stop());

  it('holds segment files and no file per small job; the big one has its own', () => {
    const entries = readdirSync(folder()).sort();
    assert.deepEqual(entries, ['.segments', 'big.tar.gz']);
    const rows = places(c.stateDir, 'segs');
    assert.deepEqual(rows.map((r) => r.job).sort(), [...SMALL].sort());
    const segs = readdirSync(join(folder(), '.segments'));
    assert.ok(segs.length >= 1 && segs.length <= SMALL.length, `${segs.length} segments`);
    const used = rows.reduce((n, r) => n + r.length, 0);
    const onDisk = segs.reduce((n, s) => n + statSync(join(folder(), '.segments', s)).size, 0);
    assert.equal(onDisk, used, 'every appended byte is an indexed result');
  });

  it('pull, verify and logs give the right bytes', async () => {
    const save = join(c.root, 'save');
    const r = await c.cli(['pull', file, '--save-dir', save]);
    assert.equal(r.code, 0, r.stderr);
    for (const j of SMALL) assert.equal(readFileSync(join(save, 'segs', j, 'out.txt'), 'utf8'), `result of ${j}\n`);
    assert.equal(statSync(join(save, 'segs', 'big', 'big.bin')).size, 3_000_000);
    const v = await c.cli(['verify', 'segs', '--save-dir', save, '--json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const counts = (JSON.parse(v.stdout) as { counts: { ok: number; mismatch: number; missing: number } }).counts;
    assert.deepEqual({ mismatch: counts.mismatch, missing: counts.missing }, { mismatch: 0, missing: 0 });
    assert.ok(counts.ok >= SMALL.length + 2, `${counts.ok} files verified`);
    const log = await c.cli(['logs', 'segs', 's7']);
    assert.equal(log.code, 0, log.stderr);
    assert.equal(log.stdout, 'log of s7\n');
  });

  it('a flipped byte in a segment fails that job alone', async () => {
    const victim = places(c.stateDir, 'segs').find((r) => r.job === 's3')!;
    const path = segFile(victim.segment);
    const original = readFileSync(path);
    const bytes = Buffer.from(original);
    // in the gzip header's MTIME: a flip gzip itself does not notice, only the recorded SHA-256
    assert.deepEqual([...bytes.subarray(victim.offset, victim.offset + 2)], [0x1f, 0x8b]);
    bytes[victim.offset + 4]! ^= 0xff;
    writeFileSync(path, bytes);
    try {
      const save = join(c.root, 'save-flip');
      const r = await c.cli(['pull', file, '--save-dir', save]);
      assert.equal(r.code, 1, `exit 1 expected:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /job s3: out\.txt: not received/);
      assert.doesNotMatch(r.stderr, /job s(?!3\b)\d+/);
      for (const j of SMALL.filter((j) => j !== 's3')) assert.equal(readFileSync(join(save, 'segs', j, 'out.txt'), 'utf8'), `result of ${j}\n`);
      assert.ok(c.head.lines.some((l) => l.event === 'archive_damaged' && l.job === 's3'));
    } finally {
      writeFileSync(path, original);
    }
  });

  it('rm of one job shrinks its segment; the others still pull', async () => {
    const before = places(c.stateDir, 'segs');
    const gone = before.find((r) => r.job === 's5')!;
    const sizeOf = (s: string) => statSync(segFile(s)).size;
    const total = () => readdirSync(join(folder(), '.segments')).reduce((n, s) => n + statSync(join(folder(), '.segments', s)).size, 0);
    const was = total();
    assert.equal(sizeOf(gone.segment), before.filter((r) => r.segment === gone.segment).reduce((n, r) => n + r.length, 0));
    const r = await c.cli(['rm', 'segs', '--job', 's5', '--yes', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { bytes: number }).bytes, gone.length);
    assert.equal(total(), was - gone.length, 'the segments hold exactly the bytes of the jobs left');
    const after = places(c.stateDir, 'segs');
    assert.deepEqual(after.map((x) => x.job).sort(), SMALL.filter((j) => j !== 's5').sort());
    const save = join(c.root, 'save-after-rm');
    const p = await c.cli(['pull', file, '--save-dir', save]);
    assert.equal(p.code, 0, p.stderr);
    for (const j of SMALL.filter((j) => j !== 's5')) assert.equal(readFileSync(join(save, 'segs', j, 'out.txt'), 'utf8'), `result of ${j}\n`);
  });

  it('a head SIGKILLed while results stream in loses nothing it acknowledged, archives nothing twice', async () => {
    const jobs = Array.from({ length: 60 }, (_, i) => `k${i}`);
    const kfile = join(c.root, 'kill.yaml');
    writeFileSync(kfile, batchYaml('killed', jobs, false));
    const add = await c.cli(['add', kfile]);
    assert.equal(add.code, 0, add.stderr);
    // the kill lands while results arrive: some acknowledged, more on their way
    await c.head.events('result_archived', 10, (l) => String(l.path).includes('/lab/killed/'), 60_000);
    await c.restartHead();
    const deadline = Date.now() + 90_000;
    for (;;) {
      const st = await c.statusOf('killed');
      if (st && st.counts.done === jobs.length) break;
      if (st && st.counts.failed + st.counts.cancelled > 0) assert.fail(`jobs ended without success: ${JSON.stringify(st.counts)}`);
      if (Date.now() > deadline) assert.fail(`not all done: ${JSON.stringify(st?.counts)}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    const save = join(c.root, 'save-killed');
    const p = await c.cli(['pull', kfile, '--save-dir', save]);
    assert.equal(p.code, 0, p.stderr);
    for (const j of jobs) assert.equal(readFileSync(join(save, 'killed', j, 'out.txt'), 'utf8'), `result of ${j}\n`, `${j} holds its own output`);
    const db = new Database(join(c.stateDir, 'distribute.db'), { readonly: true });
    try {
      const wrong = db
        .prepare(`SELECT j.name, (SELECT COUNT(*) FROM attempts a WHERE a.job_id = j.id AND a.state = 'archived') AS archived
                  FROM jobs j JOIN batches b ON b.id = j.batch_id WHERE b.name = 'killed' AND archived <> 1`)
        .all();
      assert.deepEqual(wrong, [], 'each job archived exactly once');
    } finally {
      db.close();
    }
    // each job's archive in one place: a segment range, or (a result the node kept through the
    // outage and uploaded over HTTP) a file of its own
    const inSegments = new Set(places(c.stateDir, 'killed').map((r) => r.job));
    const files = new Set(readdirSync(join(c.stateDir, 'archive', 'lab', 'killed')).filter((f) => f.endsWith('.tar.gz')).map((f) => f.slice(0, -7)));
    assert.ok(inSegments.size >= 10, `${inSegments.size} results in segments`);
    assert.deepEqual([...inSegments].filter((j) => files.has(j)), [], 'none in both');
    assert.deepEqual(jobs.filter((j) => !inSegments.has(j) && !files.has(j)), [], 'none in neither');
  });
});
