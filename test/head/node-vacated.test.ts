import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { queueBatch } from '../../head/queue.js';
import { hello, shellBatch, startTestHead, TestNode, until, type TestHead } from './harness.js';

function jobRow(t: TestHead, name: string) {
  return t.store.db.prepare('SELECT * FROM jobs WHERE name = ?').get(name) as { state: string; attempt_count: number; losses: number; node: string | null; error: string | null };
}

describe('head: a job vacated by its paused node', () => {
  let t: TestHead;
  const open: TestNode[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((n) => n.close()));
    await t.stop();
  });

  it('is queued again at once and placed on another node, without counting against the job', async () => {
    t = await startTestHead({ maxAttempts: 1 });
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'long', cpus: 2 }]));
    const { node: desk } = await TestNode.join(t.head.url, t.nodeToken('desk'), hello('desk'));
    open.push(desk);
    const first = await desk.next('assign');
    desk.send({ type: 'started', attempt: first.attempt, pid: 77 });
    desk.send({ type: 'paused', paused: true, by: 'alice', until: null });
    await until(() => jobRow(t, 'long').state === 'paused', 'job paused');

    const { node: spare } = await TestNode.join(t.head.url, t.nodeToken('spare'), hello('spare'));
    open.push(spare);
    await assert.rejects(spare.next('assign', () => true, 300), /no assign/, 'a paused job is not moved before vacate');

    desk.send({ type: 'vacated', attempt: first.attempt, reason: 'paused for longer than vacate_after (2s)' });
    const second = await spare.next('assign');
    assert.equal(second.job.name, 'long');
    assert.equal(second.attemptNumber, 2);
    const row = jobRow(t, 'long');
    assert.equal(row.state, 'assigned');
    assert.equal(row.node, 'spare');
    assert.equal(row.losses, 0, 'max_attempts is 1, and the job still runs: a vacate is not its fault');
    assert.match(t.store.attempt(first.attempt)!.error!, /^vacated: paused for longer/);

    // the old process ends: its finished only frees what it held on the paused node
    desk.send({ type: 'finished', attempt: first.attempt, exitCode: null, signal: 'SIGTERM', timedOut: false, cancelled: true, error: null });
    await until(() => t.store.attempt(first.attempt)?.ended !== null, 'old attempt ended');
    assert.equal(jobRow(t, 'long').state, 'assigned');
    assert.ok(t.logs.some((l) => l.event === 'attempt_vacated' && l.attempt === first.attempt));
  });

  it('ignores a vacate of an attempt that is no longer current', async () => {
    t = await startTestHead();
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'j' }]));
    const { node } = await TestNode.join(t.head.url, t.nodeToken('n'), hello('n'));
    open.push(node);
    const a = await node.next('assign');
    node.send({ type: 'finished', attempt: a.attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
    await until(() => t.store.attempt(a.attempt)?.state === 'finished', 'finished');
    node.send({ type: 'vacated', attempt: a.attempt, reason: 'late' });
    // frames are handled in order: once the pause that follows is recorded, the vacate was seen
    node.send({ type: 'paused', paused: true, by: 'alice', until: null });
    await until(() => t.store.node('n')?.paused === 1, 'the pause after it');
    assert.equal(jobRow(t, 'j').state, 'running', 'still waiting for its result, not queued again');
    assert.ok(!t.logs.some((l) => l.event === 'attempt_vacated'));
  });
});
