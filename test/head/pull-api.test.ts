import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { queueBatch } from '../../head/queue.js';
import type { HeadMessage } from '../../shared/protocol/messages.js';
import { hello, putResult, resultArchive, shellBatch, startTestHead, TestNode, untar, type TestHead } from './harness.js';

describe('head: pull plans, explicit pulls, rm', () => {
  let t: TestHead;
  let alice: string;
  let tok: string;
  let node: TestNode;
  const assigns = new Map<string, Extract<HeadMessage, { type: 'assign' }>>();

  before(async () => {
    t = await startTestHead();
    alice = t.user('alice');
    tok = t.nodeToken('n');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'j1' }, { name: 'j2' }, { name: 'run' }, { name: 'wait' }]));
    ({ node } = await TestNode.join(t.head.url, tok, hello('n', { resources: { cpus: 3, memory: 0, gpus: 0 } })));
    for (let i = 0; i < 3; i++) {
      const a = await node.next('assign');
      assigns.set(a.job.name, a);
      node.send({ type: 'started', attempt: a.attempt, pid: 100 + i });
    }
    for (const [name, files] of [['j1', { 'out.txt': 'one\n', 'data/big.csv': 'a,b,c\n' }], ['j2', { 'out.txt': 'two\n' }]] as const) {
      const a = assigns.get(name)!;
      node.send({ type: 'finished', attempt: a.attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
      assert.equal((await putResult(t.head.httpUrl, tok, a.attempt, await resultArchive({ files }))).status, 200);
    }
  });
  after(async () => {
    await node.close();
    await t.stop();
  });

  it('plans from the index: finished jobs\' members with sizes and times, unfinished jobs counted', async () => {
    const r = await t.http('POST', '/v1/pull/plan', alice, { namespace: 'lab', batch: 'b', exclude: ['_distribute/'] });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.members.map((m: { job: string; path: string; size: number }) => `${m.job}/${m.path}:${m.size}`), ['j1/data/big.csv:6', 'j1/out.txt:4', 'j2/out.txt:4']);
    assert.ok(r.json.members.every((m: { mtime: number }) => Number.isInteger(m.mtime) && m.mtime > 1e12));
    assert.equal(r.json.bytes, 14);
    assert.deepEqual(r.json.jobs, { total: 4, finished: 2, unfinished: 2, selected: 2 });
    const byJob = await t.http('POST', '/v1/pull/plan', alice, { namespace: 'lab', batch: 'b', job: ['^j2$', '^wait$'], glob: ['*.txt'] });
    assert.deepEqual(byJob.json.jobs, { total: 2, finished: 1, unfinished: 1, selected: 1 });
    const bad = await t.http('POST', '/v1/pull/plan', alice, { namespace: 'lab', batch: 'b', glob: ['{x'], job: ['('] });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error, /glob\[0\].*job\[0\]|job\[0\].*glob\[0\]/);
  });

  it('sends exactly the members named, and counts those no longer archived', async () => {
    const res = await fetch(`${t.head.httpUrl}/v1/pull`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ namespace: 'lab', batch: 'b', include: ['never-used'], members: ['j1/data/big.csv', 'j2/out.txt', 'j2/gone.txt', 'run/out.txt', 'nojob'] }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-distribute-members'), '2');
    assert.equal(res.headers.get('x-distribute-missing'), '3');
    assert.deepEqual([...(await untar(res.body!)).keys()], ['j1/data/big.csv', 'j2/out.txt']);
  });

  it('rm refuses unfinished jobs, removes one finished job\'s results, then the batch with --force', async () => {
    const refused = await t.http('POST', '/v1/batches/lab/b/rm', alice, {});
    assert.equal(refused.status, 409);
    assert.match(refused.json.error, /lab\/b: 2 jobs are still queued or running/);

    const j1 = join(t.stateDir, 'archive', 'lab', 'b', 'j1.tar.gz');
    const size = statSync(j1).size;
    const one = await t.http('POST', '/v1/batches/lab/b/rm', alice, { job: 'j1' });
    assert.equal(one.status, 200, one.text);
    assert.deepEqual(one.json, { jobs: 1, files: 5, bytes: size, batch_removed: false, cancelled: 0 });
    assert.equal(existsSync(j1), false);
    assert.equal(t.store.stmt<{ n: number }>('SELECT COUNT(*) AS n FROM archive_members m JOIN jobs j ON j.id = m.job_id WHERE j.name = ?').get('j1')!.n, 0);
    assert.equal((await t.http('POST', '/v1/batches/lab/b/rm', alice, { job: 'nope' })).status, 404);
    assert.equal((await t.http('POST', '/v1/batches/lab/b/rm', t.user('bob'), {})).status, 403);

    // with force: the unfinished jobs are cancelled (their node is told), the rows stay until they are gone
    const waiting = await node.next('assign'); // placed once j1 and j2 freed the node
    assert.equal(waiting.job.name, 'wait');
    const forced = await t.http('POST', '/v1/batches/lab/b/rm', alice, { force: true });
    assert.equal(forced.status, 200, forced.text);
    assert.equal(forced.json.cancelled, 2);
    assert.equal(forced.json.batch_removed, false);
    const cancelled = [(await node.next('cancel')).attempt, (await node.next('cancel')).attempt].sort();
    assert.deepEqual(cancelled, [assigns.get('run')!.attempt, waiting.attempt].sort());
    assert.equal(existsSync(join(t.stateDir, 'archive', 'lab', 'b')), false);

    for (const attempt of cancelled) node.send({ type: 'finished', attempt, exitCode: null, signal: 'SIGTERM', timedOut: false, cancelled: true, error: null });
    const deadline = Date.now() + 5000;
    let again = await t.http('POST', '/v1/batches/lab/b/rm', alice, {});
    while (again.json.batch_removed !== true && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      again = await t.http('POST', '/v1/batches/lab/b/rm', alice, {});
    }
    assert.equal(again.json.batch_removed, true, again.text);
    assert.equal(t.store.batchByName('lab', 'b'), undefined);
    assert.equal((await t.http('POST', '/v1/pull/plan', alice, { namespace: 'lab', batch: 'b' })).status, 404);
  });
});
