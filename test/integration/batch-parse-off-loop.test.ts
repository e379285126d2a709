// A large batch is added without stalling the head: while ~7.5 MB of legal batch (60,000 short
// jobs) is parsed, checked, turned into wire records (in the batch parser's worker thread) and
// queued (in chunks, one turn of the loop each), another user's status answers in under
// 200 ms (but for one hiccup), the loop's delay p99 stays under 100 ms, and no node is lost. A head killed while it
// queues such a batch has none of it after its restart, and no one saw it half-queued.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { TestCluster } from '../helpers/cluster.js';
import { until } from '../helpers/until.js';

const JOBS = 60_000;

/** The body of `add` for JOBS short jobs, pinned to a node that never joins (they stay queued, the pass has nothing to place). */
function largeAdd(batchName: string): string {
  const jobs = Array.from({ length: JOBS }, (_, i) => ({ name: `job${i}`, command: `echo ${'x'.repeat(60)} ${i}`, nodes: ['elsewhere'] }));
  return JSON.stringify({ document: { meta: { batch_name: batchName, namespace: 'alice-ns', capabilities: ['shell'] }, shell: { jobs } }, file: `${batchName}.yaml`, files: {}, dry: false });
}

describe('adding a large batch off the event loop', () => {
  let c: TestCluster;
  before(async () => {
    c = await TestCluster.start({ nodes: [{ name: 'ws1', capabilities: ['shell'] }] });
  });
  after(async () => c?.stop());

  it('keeps answering others while a large batch is checked and queued', async () => {
    const http = c.url.replace(/^ws/, 'http');
    const body = largeAdd('big');
    assert.ok(body.length > 6 * 1024 * 1024 && body.length < 8 * 1024 * 1024, `${body.length} bytes`);
    const bob = { authorization: `Bearer ${await c.user('bob')}` };
    const alice = { authorization: `Bearer ${await c.user('alice')}`, 'content-type': 'application/json' };
    await fetch(`${http}/v1/status`, { headers: bob }); // a warm connection path before measuring
    // the parser's worker starts with the first batch: start it before measuring
    const small = JSON.stringify({ document: { meta: { batch_name: 'small', namespace: 'alice-ns', capabilities: ['shell'] }, shell: { jobs: [{ name: 'j', command: 'true' }] } }, file: 'small.yaml', files: {}, dry: true });
    assert.equal((await fetch(`${http}/v1/batches`, { method: 'POST', headers: alice, body: small })).status, 200);

    // encoded before the clock starts: this process's own work is not the head's latency
    const bytes = Buffer.from(body);
    const t0 = performance.now();
    let addMs = 0;
    const add = fetch(`${http}/v1/batches`, { method: 'POST', headers: alice, body: bytes }).then(async (r) => ((addMs = performance.now() - t0), { status: r.status, text: await r.text() }));
    let done = false;
    void add.finally(() => (done = true));
    const latencies: number[] = [];
    while (!done) {
      const s = performance.now();
      const r = await fetch(`${http}/v1/status`, { headers: bob });
      assert.equal(r.status, 200);
      await r.text();
      if (!done) latencies.push(performance.now() - s);
      if (!done && process.env.TRACE_LATENCY) console.log(`# at ${Math.round(s - t0)} ms: status ${Math.round(performance.now() - s)} ms`);
      await new Promise((ok) => setTimeout(ok, 20));
    }
    const answer = await add;
    assert.equal(answer.status, 200, answer.text);
    assert.equal(JSON.parse(answer.text).jobs, JOBS);
    assert.ok(latencies.length >= 5, `only ${latencies.length} status requests while the batch took ${Math.round(addMs)} ms`);
    // every answer but one under 200 ms, and that one under 400 ms: one hiccup of a machine
    // shared with other test runs is tolerated; the batch's own work on the loop (0.6 s and more
    // in one piece when queued in one transaction, seconds when parsed on the loop) is not
    const sorted = [...latencies].sort((a, b) => a - b);
    const worst = sorted.at(-1)!;
    assert.ok(sorted.at(-2)! < 200 && worst < 400, `status took ${sorted.slice(-3).map(Math.round).join(', ')} ms at worst while the batch was added (${Math.round(addMs)} ms)`);

    const metrics = await (await fetch(`${http}/metrics`, { headers: bob })).text();
    const quantile = (q: string) => Number(new RegExp(`^distribute_event_loop_delay_seconds\\{quantile="${q}"\\} (\\S+)$`, 'm').exec(metrics)![1]);
    const p99 = quantile('0.99');
    assert.ok(p99 < 0.1, `loop delay p99 ${p99} s`);
    assert.equal(c.head.count('node_lost'), 0);
    const status = await c.statusOf('big');
    assert.equal(status?.jobs.length, JOBS);
    console.log(`# batch of ${body.length} bytes (${JOBS} jobs) added in ${Math.round(addMs)} ms; ${latencies.length} status requests, worst ${Math.round(worst)} ms; loop p99 ${(p99 * 1000).toFixed(1)} ms, max ${(quantile('1') * 1000).toFixed(1)} ms; load ${loadavg()[0]!.toFixed(1)}`);
  });

  it('drops a batch the head was killed while queueing: all of it or nothing, never seen half-queued', async () => {
    const http = c.url.replace(/^ws/, 'http');
    const alice = { authorization: `Bearer ${await c.user('alice')}`, 'content-type': 'application/json' };
    await c.user('root', true);
    const add = fetch(`${http}/v1/batches`, { method: 'POST', headers: alice, body: largeAdd('crash') }).then(
      (r) => r.status,
      () => 'cut',
    );
    const db = new Database(join(c.stateDir, 'distribute.db'), { readonly: true });
    const loaded = db.prepare(`SELECT COUNT(*) AS n FROM jobs j JOIN batches b ON b.id = j.batch_id WHERE b.namespace = '~loading'`);
    try {
      // some chunks in, not all: the batch is on disk only under the loading namespace, and no one sees it
      const partly = await until(() => {
        const n = (loaded.get() as { n: number }).n;
        return n > 0 && n < JOBS ? n : 0;
      }, 'the first chunks of batch crash', 60_000, 5);
      assert.equal(await c.statusOf('crash'), null);
      assert.equal(await c.statusOf('crash', 'root'), null);
      await c.restartHead();
      assert.equal(await add, 'cut');
      assert.equal(c.head.count('half_queued_batches_dropped'), 1, `killed with ${partly} of ${JOBS} jobs in`);
      assert.equal((loaded.get() as { n: number }).n, 0);
      assert.equal((db.prepare(`SELECT COUNT(*) AS n FROM batches WHERE name LIKE '%crash'`).get() as { n: number }).n, 0);
      assert.equal(await c.statusOf('crash'), null);
    } finally {
      db.close();
    }
    // and the same batch, added again, goes in whole
    const again = await fetch(`${c.url.replace(/^ws/, 'http')}/v1/batches`, { method: 'POST', headers: alice, body: largeAdd('crash') });
    assert.equal(again.status, 200, await again.text());
    assert.equal((await c.statusOf('crash'))?.jobs.length, JOBS);
  });
});
