import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { TestCluster } from '../helpers/cluster.js';

interface StatusJson {
  namespace: string;
  batch_name: string;
  state: string;
  counts: Record<string, number>;
  jobs: { name: string; state: string; node: string | null; attempt: number; exit_code: number | null }[];
}

const shellBatch = (ns: string, name: string, caps: string[], jobs: { name: string; command: string; cpus?: number }[]) =>
  [
    'meta:',
    `  batch_name: ${name}`,
    `  namespace: ${ns}`,
    `  capabilities: [${caps.join(', ')}]`,
    'shell:',
    '  jobs:',
    ...jobs.flatMap((j) => [`    - name: ${j.name}`, `      command: ${JSON.stringify(j.command)}`, ...(j.cpus ? [`      resources: {cpus: ${j.cpus}}`] : [])]),
    '',
  ].join('\n');

const record = 'echo "$DISTRIBUTE_JOB_NAME $DISTRIBUTE_CPUS" > "$DISTRIBUTE_SAVE/who.txt"';

describe('cluster: placement, archive, pull, namespaces', () => {
  let c: TestCluster;
  let dir: string;
  before(async () => {
    c = await TestCluster.start({
      nodes: [
        { name: 'small', capabilities: ['shell'], cpus: 1 },
        { name: 'fortran', capabilities: ['shell', 'gfortran'], cpus: 2 },
        { name: 'big', capabilities: ['shell', 'python3'], cpus: 4 },
      ],
    });
    dir = c.root;
    writeFileSync(join(dir, 'fort.yaml'), shellBatch('lab', 'fort', ['gfortran'], ['f1', 'f2', 'f3', 'f4'].map((n) => ({ name: n, command: record }))));
    writeFileSync(join(dir, 'wide.yaml'), shellBatch('lab', 'wide', ['shell'], ['w1', 'w2', 'w3'].map((n) => ({ name: n, command: record, cpus: 3 }))));
  });
  after(async () => c?.stop());

  it('places jobs only on the nodes that have their capabilities and room for their cpus', async () => {
    const fort = await c.cli(['add', join(dir, 'fort.yaml')]);
    assert.equal(fort.code, 0, fort.stderr);
    assert.equal(fort.stdout.trim(), 'queued 4 jobs of lab/fort; can run on 1 of 3 known nodes');
    const wide = await c.cli(['add', join(dir, 'wide.yaml')]);
    assert.equal(wide.code, 0, wide.stderr);
    assert.match(wide.stdout, /^queued 3 jobs of lab\/wide; can run on 3 of 3 known nodes/);
    await c.head.events('result_archived', 7);

    const status = await c.json<StatusJson[]>(['status']);
    const byName = new Map(status.map((b) => [b.batch_name, b]));
    assert.deepEqual(byName.get('fort')!.counts, { queued: 0, assigned: 0, running: 0, paused: 0, done: 4, failed: 0, cancelled: 0 });
    assert.equal(byName.get('fort')!.state, 'done');
    assert.deepEqual(new Set(byName.get('fort')!.jobs.map((j) => j.node)), new Set(['fortran']));
    assert.deepEqual(new Set(byName.get('wide')!.jobs.map((j) => j.node)), new Set(['big']));
    assert.deepEqual(new Set(byName.get('wide')!.jobs.map((j) => j.exit_code)), new Set([0]));
    assert.equal(c.node('small').count('assigned'), 0);
  });

  it('archives each result on the head\'s disk and indexes its members', () => {
    for (const job of ['f1', 'f2', 'f3', 'f4']) assert.ok(existsSync(join(c.stateDir, 'archive', 'lab', 'fort', `${job}.tar.gz`)), job);
    const db = new Database(join(c.stateDir, 'distribute.db'), { readonly: true });
    try {
      const rows = db
        .prepare(`SELECT j.name AS job, m.path AS path, m.size AS size FROM archive_members m JOIN jobs j ON j.id = m.job_id JOIN batches b ON b.id = j.batch_id WHERE b.name = 'fort' ORDER BY j.name, m.path`)
        .all() as { job: string; path: string; size: number }[];
      const f1 = rows.filter((r) => r.job === 'f1');
      assert.ok(f1.some((r) => r.path === 'who.txt' && r.size === 'f1 1\n'.length), JSON.stringify(f1));
      assert.ok(f1.some((r) => r.path === '_distribute/result.json'));
      assert.ok(f1.some((r) => r.path === '_distribute/stdout.log'));
    } finally {
      db.close();
    }
  });

  it('pulls every result into SAVE_DIR/<batch>/<job>/ with result.json naming the node', async () => {
    const save = join(dir, 'pulled');
    const r = await c.cli(['pull', join(dir, 'wide.yaml'), '--save-dir', save]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^pulled \\d+ files \\(.*\\) of lab/wide into ${save}/wide$`, 'm'));
    assert.deepEqual(readdirSync(join(save, 'wide')).sort(), ['w1', 'w2', 'w3']);
    for (const job of ['w1', 'w2', 'w3']) {
      assert.equal(readFileSync(join(save, 'wide', job, 'who.txt'), 'utf8'), `${job} 3\n`);
      const result = JSON.parse(readFileSync(join(save, 'wide', job, '_distribute', 'result.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(result.node, 'big');
      assert.equal(result.exit_code, 0);
      assert.equal(result.job, job);
      assert.equal(result.namespace, 'lab');
    }
  });

  it('refuses a batch no known node can run, naming the missing capability', async () => {
    writeFileSync(join(dir, 'cuda.yaml'), shellBatch('lab', 'cuda', ['shell', 'cuda12'], [{ name: 'c1', command: 'true' }]));
    const r = await c.cli(['add', join(dir, 'cuda.yaml'), '--show-caps']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cuda12/);
    assert.match(r.stdout, /^fortran\s+idle\s+shell, gfortran$/m);
    const status = await c.json<StatusJson[]>(['status']);
    assert.equal(status.some((b) => b.batch_name === 'cuda'), false);
  });

  it('refuses a user another user\'s namespace, and hides it from them', async () => {
    writeFileSync(join(dir, 'intruder.yaml'), shellBatch('lab', 'intruder', ['shell'], [{ name: 'i1', command: 'true' }]));
    const r = await c.cli(['add', join(dir, 'intruder.yaml')], { user: 'bob' });
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), 'error: namespace lab belongs to alice');
    assert.deepEqual(await c.json<StatusJson[]>(['status'], { user: 'bob' }), []);
    const kill = await c.cli(['kill', 'fort', '--namespace', 'lab'], { user: 'bob' });
    assert.equal(kill.code, 2);
    await c.user('boss', true);
    const admin = await c.json<StatusJson[]>(['status'], { user: 'boss' });
    assert.deepEqual(admin.map((b) => `${b.namespace}/${b.batch_name}`).sort(), ['lab/fort', 'lab/wide']);
  });

  it('refuses invalid YAML with exit 2, the problems as FILE:LINE:COL, and queues nothing', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, ['meta:', '  batch_name: broken', '  namespace: lab', 'shell:', '  jobs:', '    - name: b1', '      comand: true', ''].join('\n'));
    const r = await c.cli(['add', bad]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:7:7: shell\\.jobs\\[0\\]`, 'm'));
    const status = await c.json<StatusJson[]>(['status']);
    assert.equal(status.some((b) => b.batch_name === 'broken'), false);
  });
});
