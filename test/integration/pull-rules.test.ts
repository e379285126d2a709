// Pull query rules against a real cluster: a 200-job batch with mixed outputs, each filter
// combination's `pull --dry --json` compared with an independent reference filter computed
// here from the archive index (read straight from the head's SQLite), while the archives are
// moved out of the head's reach (so the plans cannot have opened a tarball); then a real pull
// whose files on disk are exactly the reference's, with the archived sizes and times.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import Database from 'better-sqlite3';
import { TestCluster } from '../helpers/cluster.js';

const JOBS = 200;

function jobName(i: number): string {
  return i < 120 ? `re_${String(i).padStart(3, '0')}` : `mesh_${i}`;
}

/** What job i writes into its save folder: a mix of sizes, depths, kinds and a link. */
function jobCommand(i: number): string {
  const s = ['cd "$DISTRIBUTE_SAVE"', 'mkdir -p out', `head -c ${((i * 131) % 4000) + 1} /dev/zero > out/result.csv`];
  if (i % 2 === 0) s.push(`echo '{"i": ${i}}' > out/summary.json`);
  if (i % 3 === 0) s.push('mkdir -p log', `echo run ${i} > log/run.log`);
  if (i % 5 === 0) s.push('mkdir -p data/deep', `head -c ${10000 + i} /dev/zero > data/deep/x.bin`);
  if (i % 4 === 1) s.push('mkdir -p data', `echo f > data/field_${i % 3}.dat`);
  if (i % 7 === 0) s.push('ln -s out/result.csv latest');
  if (i % 11 === 0) s.push('mkdir -p checkpoints', `head -c 3000 /dev/zero > checkpoints/ckpt.dat`);
  s.push(`echo job ${i}`);
  return s.join(' && ');
}

function batchYaml(): string {
  const lines = ['meta:', '  batch_name: mixed', '  namespace: lab', '  capabilities: [shell]', 'shell:', '  jobs:'];
  for (let i = 0; i < JOBS; i++) lines.push(`    - name: ${jobName(i)}`, `      command: ${JSON.stringify(jobCommand(i))}`);
  return lines.join('\n') + '\n';
}

interface Row {
  job: string;
  path: string;
  size: number;
  mtime: number | null;
}

interface Query {
  include?: string[];
  exclude?: string[];
  glob?: string[];
  job?: string[];
}

/** Wildcard match written without regexes: `*` and `?` within a segment, `**` across. */
function wildcard(pattern: string, text: string): boolean {
  const memo = new Map<string, boolean>();
  const go = (p: number, t: number): boolean => {
    const key = `${p},${t}`;
    if (memo.has(key)) return memo.get(key)!;
    let r: boolean;
    if (p === pattern.length) r = t === text.length;
    else if (pattern.startsWith('**/', p)) r = go(p + 3, t) || (t < text.length && go(p, t + 1) && text.slice(t).includes('/'));
    else if (pattern.startsWith('**', p)) r = go(p + 2, t) || (t < text.length && go(p, t + 1));
    else if (pattern[p] === '*') r = go(p + 1, t) || (t < text.length && text[t] !== '/' && go(p, t + 1));
    else if (pattern[p] === '?') r = t < text.length && text[t] !== '/' && go(p + 1, t + 1);
    else r = t < text.length && pattern[p] === text[t] && go(p + 1, t + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

/** The documented semantics, stated once more in plain code. */
function reference(rows: Row[], q: Query): Row[] {
  return rows.filter((r) => {
    const full = `${r.job}/${r.path}`;
    if (q.job?.length && !q.job.some((j) => new RegExp(j).test(r.job))) return false;
    const includes = q.include ?? [];
    const globs = q.glob ?? [];
    if (includes.length + globs.length > 0) {
      const hit = includes.some((p) => new RegExp(p).test(full)) || globs.some((g) => wildcard(g, g.includes('/') ? full : posix.basename(r.path)));
      if (!hit) return false;
    }
    return !(q.exclude ?? []).some((p) => new RegExp(p).test(full));
  });
}

function flags(q: Query): string[] {
  return (['include', 'exclude', 'glob', 'job'] as const).flatMap((k) => (q[k] ?? []).flatMap((v) => [`--${k}`, v]));
}

const key = (m: Row) => `${m.job}/${m.path} ${m.size} ${m.mtime}`;

describe('pull rules on a 200-job batch', () => {
  let c: TestCluster;
  let rows: Row[];
  let file: string;
  before(async () => {
    c = await TestCluster.start({ nodes: [{ name: 'n1', capabilities: ['shell'], cpus: 4 }, { name: 'n2', capabilities: ['shell'], cpus: 4 }] });
    file = join(c.root, 'mixed.yaml');
    writeFileSync(file, batchYaml());
    const add = await c.cli(['add', file]);
    assert.equal(add.code, 0, add.stderr);
    await c.head.events('result_archived', JOBS, () => true, 120_000);
    const db = new Database(join(c.stateDir, 'distribute.db'), { readonly: true });
    try {
      rows = db
        .prepare(
          `SELECT j.name AS job, m.path AS path, m.size AS size, m.mtime AS mtime FROM archive_members m
           JOIN jobs j ON j.id = m.job_id JOIN batches b ON b.id = j.batch_id
           WHERE b.namespace = 'lab' AND b.name = 'mixed' AND j.state IN ('done', 'failed')`,
        )
        .all() as Row[];
    } finally {
      db.close();
    }
  });
  after(async () => c?.stop());

  it('archived every job with its mixed outputs', () => {
    assert.equal(new Set(rows.map((r) => r.job)).size, JOBS);
    assert.ok(rows.some((r) => r.path === 'latest'));
    assert.ok(rows.some((r) => r.path === 'data/deep/x.bin'));
    assert.ok(rows.length > JOBS * 5, `${rows.length} members`);
  });

  const combos: [string, Query][] = [
    ['no rules', {}],
    ['one include', { include: ['\\.csv$'] }],
    ['two includes', { include: ['\\.csv$', '^mesh_1\\d\\d/'] }],
    ['an exclude alone', { exclude: ['_distribute/'] }],
    ['include and exclude (exclude wins)', { include: ['\\.(dat|bin)$'], exclude: ['deep/'] }],
    ['a glob on the file name', { glob: ['*.csv'] }],
    ['a glob on the whole path, with an exclude', { glob: ['re_1*/data/**'], exclude: ['field_2'] }],
    ['a glob and an include together', { glob: ['*.json'], include: ['^re_0[0-4]\\d/log/'] }],
    ['a job regex with an include', { job: ['^re_\\d*5$'], include: ['log|latest'] }],
    ['two job regexes', { job: ['^mesh_1[5-9]', '^re_00'] }],
    ['rules that select nothing', { include: ['no-such-file'] }],
  ];

  describe('plans answered from the index alone', () => {
    const away = () => join(c.stateDir, 'archive', 'lab', 'mixed');
    before(() => renameSync(away(), away() + '.moved'));
    after(() => renameSync(away() + '.moved', away()));

    for (const [name, q] of combos) {
      it(`--dry with ${name} lists what the reference filter selects`, async () => {
        const r = await c.cli(['pull', file, '--dry', '--json', '--save-dir', join(c.root, 'never'), ...flags(q)]);
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout) as { members: Row[]; selected: { files: number; bytes: number }; unfinished: number };
        const want = reference(rows, q);
        assert.deepEqual(out.members.map(key).sort(), want.map(key).sort());
        assert.equal(out.selected.bytes, want.reduce((n, m) => n + m.size, 0));
        assert.equal(out.unfinished, 0);
      });
    }

    it('takes the same rules from a --rules file, joined with the flags', async () => {
      const rules = join(c.root, 'rules.yaml');
      writeFileSync(rules, ['include:', "  - '\\.csv$'", 'glob: "*.log"', 'exclude: [checkpoints]', "job: '^re_'", ''].join('\n'));
      const r = await c.cli(['pull', file, '--dry', '--json', '--rules', rules, '--exclude', '^re_00']);
      assert.equal(r.code, 0, r.stderr);
      const want = reference(rows, { include: ['\\.csv$'], glob: ['*.log'], exclude: ['checkpoints', '^re_00'], job: ['^re_'] });
      assert.deepEqual((JSON.parse(r.stdout) as { members: Row[] }).members.map(key).sort(), want.map(key).sort());
    });

    it('prints the listing with sizes and the total without --json', async () => {
      const r = await c.cli(['pull', '--batch', 'mixed', '--dry', '--job', '^re_000$', '--save-dir', join(c.root, 'never')]);
      assert.equal(r.code, 0, r.stderr);
      const want = reference(rows, { job: ['^re_000$'] });
      for (const m of want) assert.match(r.stdout, new RegExp(`^ +[\\d.]+ (B|KiB)  re_000/${m.path.replace(/\./g, '\\.')}$`, 'm'));
      assert.match(r.stdout, new RegExp(`^would pull ${want.length} files \\(.+\\) of lab/mixed into .*/never/mixed; 0 already there$`, 'm'));
    });
  });

  it('pulls exactly the reference selection, with the archived sizes and modification times', async () => {
    const q: Query = { glob: ['*.csv', 'latest'], include: ['\\.bin$'], exclude: ['^mesh_'] };
    const save = join(c.root, 'save');
    const r = await c.cli(['pull', file, '--save-dir', save, ...flags(q)]);
    assert.equal(r.code, 0, r.stderr);
    const want = reference(rows, q);
    assert.match(r.stdout, new RegExp(`^pulled ${want.length} files \\(.+\\) of lab/mixed into ${save}/mixed$`, 'm'));
    const root = join(save, 'mixed');
    const got = readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => !e.isDirectory()).map((e) => posix.relative(root, join(e.parentPath, e.name)));
    assert.deepEqual(got.sort(), want.map((m) => `${m.job}/${m.path}`).sort());
    for (const m of want) {
      const st = lstatSync(join(root, m.job, m.path));
      if (m.path === 'latest') {
        assert.ok(st.isSymbolicLink());
        continue;
      }
      assert.equal(st.size, m.size, m.path);
      assert.equal(Math.floor(st.mtimeMs / 1000), Math.floor(m.mtime! / 1000), m.path);
    }
  });

  it('refuses a bad pattern with exit 2, naming the flag or the rules file line', async () => {
    const bad = await c.cli(['pull', file, '--include', 'ok', '--include', '(unclosed', '--dry']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--include "\(unclosed": not a valid regular expression/);
    const rules = join(c.root, 'bad-rules.yaml');
    writeFileSync(rules, ['include:', '  - fine', '  - "[oops"', 'exclud: x', ''].join('\n'));
    const r = await c.cli(['pull', file, '--rules', rules, '--dry']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${rules.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:1: exclud: not a rules key`));
    const r2 = await c.cli(['pull', file, '--rules', (writeFileSync(rules, 'include: [fine, "[oops"]\n'), rules), '--dry']);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /bad-rules\.yaml:1:17: include\[1\]: "\[oops": not a valid regular expression/);
  });
});
