// A real head against fifty simulated compute nodes (test/bench/fleet.ts): every job of a
// batch runs once, on one node, and ends done with exactly one archived attempt.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { TestCluster } from '../helpers/cluster.js';
import { until } from '../helpers/until.js';
import { nodeTokens, SimFleet } from '../bench/fleet.js';
import { writeShellBatch } from '../bench/cluster.js';

const NODES = 50;
const JOBS = 1000;

describe('a simulated fleet of fifty nodes against a real head', () => {
  let c: TestCluster;
  let fleet: SimFleet;
  const assigned = new Map<number, string>();

  before(async () => {
    c = await TestCluster.start();
    const names = Array.from({ length: NODES }, (_, i) => `sim${String(i).padStart(3, '0')}`);
    fleet = await SimFleet.start({ head: c.url, nodes: nodeTokens(c.stateDir, names), slots: 2, runMs: 5 });
    fleet.onAssign = (node, m) => {
      assert.equal(assigned.has(m.attempt), false, `attempt ${m.attempt} assigned twice`);
      assigned.set(m.attempt, node);
    };
  });
  after(async () => {
    fleet?.close();
    await c?.stop();
  });

  it('runs every job once and archives each result once', async () => {
    const file = writeShellBatch(c.root, 'wide', JOBS);
    const add = await c.cli(['add', file]);
    assert.equal(add.code, 0, add.stderr);
    await until(() => fleet.counts.taken >= JOBS || fleet.errors.length > 0, `${JOBS} results taken`, 120_000);
    assert.deepEqual(fleet.errors, []);
    assert.equal(fleet.counts.taken, JOBS);
    assert.equal(fleet.counts.refused, 0);

    const db = new Database(join(c.stateDir, 'distribute.db'), { readonly: true });
    try {
      const states = db.prepare(`SELECT state, COUNT(*) AS n FROM jobs GROUP BY state`).all() as { state: string; n: number }[];
      assert.deepEqual(states, [{ state: 'done', n: JOBS }]);
      const perJob = db.prepare(`SELECT job_id, COUNT(*) AS n FROM attempts WHERE state = 'archived' GROUP BY job_id HAVING n <> 1`).all();
      assert.deepEqual(perJob, [], 'a job with other than one archived attempt');
      const attempts = db.prepare(`SELECT COUNT(*) AS n FROM attempts`).get() as { n: number };
      assert.equal(attempts.n, JOBS, 'no job needed a second attempt');
      const nodesUsed = db.prepare(`SELECT COUNT(DISTINCT node) AS n FROM attempts`).get() as { n: number };
      assert.ok(nodesUsed.n >= NODES * 0.8, `jobs spread over ${nodesUsed.n} of ${NODES} nodes`);
      // the head's attempt ↔ node matches what each simulated node was sent and reported
      const rows = db.prepare(`SELECT id, node FROM attempts`).all() as { id: number; node: string }[];
      for (const r of rows) assert.equal(assigned.get(r.id), r.node, `attempt ${r.id}`);
      const taken = fleet.nodes.flatMap((n) => n.taken);
      assert.equal(new Set(taken).size, JOBS, 'each attempt taken once');
    } finally {
      db.close();
    }
    // the archives are what a real node's would be: pull unpacks them
    const out = join(c.root, 'pulled');
    const pull = await c.cli(['pull', file, '--job', '^j(0|999)$', '--save-dir', out]);
    assert.equal(pull.code, 0, pull.stderr);
    for (const job of ['j0', 'j999']) assert.ok(existsSync(join(out, 'wide', job, '_distribute', 'result.json')), `${job} pulled`);
  });
});
