import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { until } from '../helpers/until.js';
import { TestCluster } from '../helpers/cluster.js';
import { expectedTable, meshBatch, RES } from '../helpers/mesh-batch.js';

const WAIT_MS = 60_000;
interface StatusJson {
  batch_name: string;
  state: string;
  jobs: { name: string; state: string; node: string | null; error: string | null; waiting: string | null }[];
}

describe('jobs that wait for others, and the finalize step, on two nodes', () => {
  let c: TestCluster;
  const status = async (batch: string) => (await c.json<StatusJson[]>(['status', batch]))[0]!;

  before(async () => {
    c = await TestCluster.start({ nodes: [{ name: 'ws1', capabilities: [], cpus: 2 }, { name: 'ws2', capabilities: [], cpus: 2 }] });
  });
  after(async () => c?.stop());

  it('starts every solve after mesh ended, then finalize gathers the eight results', async () => {
    const hold = join(c.root, 'mesh-may-end');
    const file = meshBatch(c.root, 'ordered', { hold });
    const added = await c.cli(['add', file]);
    assert.equal(added.code, 0, added.stderr);
    // while mesh runs, the solves wait for it and say so
    const early = await status('ordered');
    const solve = early.jobs.find((j) => j.name === 'solve_100')!;
    assert.equal(solve.state, 'queued');
    assert.match(solve.waiting ?? '', /waits for mesh/);
    assert.match(early.jobs.find((j) => j.name === '_finalize')!.waiting ?? '', /finalize step: waits for every other job/);
    writeFileSync(hold, '');

    await until(async () => (await status('ordered')).state === 'done', 'the batch to be done', WAIT_MS);
    const save = join(c.root, 'pulled');
    const pulled = await c.cli(['pull', file, '--save-dir', save]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const base = join(save, 'ordered');
    const meshEnded = BigInt(readFileSync(join(base, 'mesh', 'ended'), 'utf8').trim());
    const nodes = new Set<string>();
    for (const re of RES) {
      const started = BigInt(readFileSync(join(base, `solve_${re}`, 'started'), 'utf8').trim());
      assert.ok(started > meshEnded, `solve_${re} started ${started} after mesh ended ${meshEnded}`);
      nodes.add(JSON.parse(readFileSync(join(base, `solve_${re}`, '_distribute', 'result.json'), 'utf8')).node);
    }
    assert.deepEqual([...nodes].sort(), ['ws1', 'ws2'], 'the solves ran on both nodes');
    const table = readFileSync(join(base, '_finalize', 'table.tsv'), 'utf8');
    assert.equal(table.trim().split('\n').length, 8);
    assert.equal(table, expectedTable());
    assert.equal(readFileSync(join(base, '_finalize', 'summary.txt'), 'utf8'), 'done=9 failed=0\n');
    assert.deepEqual(readFileSync(join(base, '_finalize', 'seen.txt'), 'utf8').trim().split('\n').sort(), ['mesh', ...RES.map((r) => `solve_${r}`)].sort());
  });

  it('cancels the solves naming a failed mesh, finalizes with 0 done, and retry runs it all again', async () => {
    const gate = join(c.root, 'mesh-may-run');
    const file = meshBatch(c.root, 'broken', { failUnless: gate });
    assert.equal((await c.cli(['add', file])).code, 0);
    await until(async () => ['failed', 'cancelled', 'done'].includes((await status('broken')).state) && (await status('broken')).jobs.find((j) => j.name === '_finalize')!.state === 'done', 'finalize to end', WAIT_MS);
    const st = await status('broken');
    assert.equal(st.jobs.find((j) => j.name === 'mesh')!.state, 'failed');
    for (const re of RES) {
      const j = st.jobs.find((x) => x.name === `solve_${re}`)!;
      assert.equal(j.state, 'cancelled');
      assert.equal(j.error, 'waited for mesh, which failed');
      assert.equal(j.node, null, 'a cancelled solve never ran');
    }
    const save = join(c.root, 'pulled-broken');
    assert.equal((await c.cli(['pull', file, '--save-dir', save])).code, 0);
    assert.equal(readFileSync(join(save, 'broken', '_finalize', 'summary.txt'), 'utf8'), 'done=0 failed=9\n');
    assert.equal(readFileSync(join(save, 'broken', '_finalize', 'table.tsv'), 'utf8'), '');
    assert.ok(!existsSync(join(save, 'broken', 'solve_100')));

    writeFileSync(gate, '');
    const retried = await c.cli(['retry', 'broken']);
    assert.equal(retried.code, 0, retried.stderr);
    await until(async () => (await status('broken')).state === 'done', 'the retried batch to be done', WAIT_MS);
    const again = join(c.root, 'pulled-again');
    assert.equal((await c.cli(['pull', file, '--save-dir', again])).code, 0);
    assert.equal(readFileSync(join(again, 'broken', '_finalize', 'table.tsv'), 'utf8'), expectedTable());
    assert.equal(readFileSync(join(again, 'broken', '_finalize', 'summary.txt'), 'utf8'), 'done=9 failed=0\n');
    assert.equal(readdirSync(join(again, 'broken')).length, 10);
  });

  it('refuses a cycle and an after: matching no job at validate, exit 2 with the line', async () => {
    const file = join(c.root, 'cycle.yaml');
    writeFileSync(file, 'meta: {batch_name: cyc, namespace: deps}\nshell:\n  jobs:\n    - {name: a, command: "true", after: [b]}\n    - {name: b, command: "true", after: [a]}\n    - {name: c, command: "true", after: [nope]}\n');
    const r = await c.cli(['validate', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cycle\.yaml:4:\d+: shell\.jobs\[0\]\.after\[0\]: jobs wait for each other in a cycle: a -> b -> a/);
    assert.match(r.stderr, /cycle\.yaml:6:\d+: shell\.jobs\[2\]\.after\[0\]: no job of this batch is named "nope"/);
    const add = await c.cli(['add', file]);
    assert.equal(add.code, 2);
    assert.equal((await c.json<StatusJson[]>(['status'])).some((b) => b.batch_name === 'cyc'), false, 'nothing queued');
  });
});
