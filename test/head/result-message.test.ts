// A small result sent in a `result` message on the node's WebSocket (no HTTP request): stored,
// indexed and acknowledged exactly as an upload is — `result_taken` 200 only once it is on
// disk, 409 for a stale attempt, 400 (and the job failed) for an archive that leaves its tree.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { queueBatch } from '../../head/queue.js';
import { hello, resultArchive, shellBatch, startTestHead, TestNode, until, type TestHead } from './harness.js';

function jobRow(t: TestHead, name: string) {
  return t.store.db.prepare('SELECT * FROM jobs WHERE name = ?').get(name) as { id: number; state: string; exit_code: number | null; error: string | null };
}

describe('head: results in a message', () => {
  let t: TestHead;
  const open: TestNode[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((n) => n.close()));
    await t.stop();
  });

  async function runOne(name: string) {
    const tok = t.nodeToken('n1');
    const { node } = await TestNode.join(t.head.url, tok, hello('n1'));
    open.push(node);
    const assign = await node.next('assign', (a) => a.job.name === name);
    node.send({ type: 'started', attempt: assign.attempt, pid: 1 });
    node.send({ type: 'finished', attempt: assign.attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
    await until(() => t.store.attempt(assign.attempt)?.state === 'finished', 'attempt finished');
    return { node, attempt: assign.attempt };
  }

  it('stores, indexes and acknowledges it; the job is done', async () => {
    t = await startTestHead();
    assert.ok(queueBatch(t.store, shellBatch('lab', 'b1', [{ name: 'j1' }])).ok);
    const { node, attempt } = await runOne('j1');
    node.send({ type: 'result', id: 7, attempt, data: new Uint8Array(await resultArchive({ files: { 'out.txt': 'result\n' } })) });
    const answer = await node.next('result_taken', (m) => m.re === 7);
    assert.deepEqual(answer, { type: 'result_taken', re: 7, status: 200, message: null });
    assert.ok(existsSync(join(t.stateDir, 'archive', 'lab', 'b1', 'j1.tar.gz')), 'on disk when acknowledged');
    assert.equal(jobRow(t, 'j1').state, 'done');
    const members = t.store.db.prepare('SELECT path FROM archive_members WHERE job_id = ? ORDER BY path').all(jobRow(t, 'j1').id) as { path: string }[];
    assert.deepEqual(members.map((m) => m.path), ['_distribute/result.json', '_distribute/stderr.log', '_distribute/stdout.log', 'out.txt']);

    node.send({ type: 'result', id: 8, attempt, data: new Uint8Array(await resultArchive()) });
    const again = await node.next('result_taken', (m) => m.re === 8);
    assert.equal(again.status, 409, 'a second copy of an archived attempt is stale');
    assert.match(String(again.message), /stale/);
  });

  it('refuses an archive with a link out of its tree: 400, the job fails, nothing stays in the archive', async () => {
    t = await startTestHead();
    assert.ok(queueBatch(t.store, shellBatch('lab', 'b2', [{ name: 'evil' }])).ok);
    const { node, attempt } = await runOne('evil');
    const data = await resultArchive({ raw: (dir) => symlinkSync('../../../etc/passwd', join(dir, 'escape')) });
    node.send({ type: 'result', id: 1, attempt, data: new Uint8Array(data) });
    const answer = await node.next('result_taken', (m) => m.re === 1);
    assert.equal(answer.status, 400);
    assert.match(String(answer.message), /outside the archive/);
    assert.equal(jobRow(t, 'evil').state, 'failed');
    assert.equal(existsSync(join(t.stateDir, 'archive', 'lab', 'b2', 'evil.tar.gz')), false);
    assert.deepEqual(readdirSync(join(t.stateDir, 'archive', '.tmp')), [], 'no temp file left');
  });

  it('an archive that is not one: 400 with the reason', async () => {
    t = await startTestHead();
    assert.ok(queueBatch(t.store, shellBatch('lab', 'b3', [{ name: 'junk' }])).ok);
    const { node, attempt } = await runOne('junk');
    node.send({ type: 'result', id: 2, attempt, data: Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5]) });
    const answer = await node.next('result_taken', (m) => m.re === 2);
    assert.equal(answer.status, 400);
    assert.match(String(answer.message), /not a readable/);
  });
});
