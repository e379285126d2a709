import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { queueBatch, type NewBatch } from '../../head/queue.js';
import { hello, putResult, resultArchive, shellBatch, startTestHead, TestNode, until, type TestHead } from './harness.js';

function jobRow(t: TestHead, name: string) {
  return t.store.db.prepare('SELECT * FROM jobs WHERE name = ?').get(name) as { state: string; attempt_count: number; losses: number; failures: number; exit_code: number | null; error: string | null };
}

function withRetries(b: NewBatch, retries: Record<string, number>): NewBatch {
  for (const j of b.jobs) j.record.retries = retries[j.name] ?? 0;
  return b;
}

describe('head: stale reports, reconciliation, retries', () => {
  let t: TestHead;
  const open: TestNode[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((n) => n.close()));
    await t.stop();
  });

  it('refuses a start or finish of an attempt that is no longer current and tells the node to drop it', async () => {
    t = await startTestHead({ nodeTimeout: 5 });
    const tok = t.nodeToken('n');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'j' }]));
    const first = await TestNode.join(t.head.url, tok, hello('n'));
    const old = await first.node.next('assign');
    await first.node.close();
    // back at once, but without the attempt: lost at once, and placed again here
    const { node } = await TestNode.join(t.head.url, tok, hello('n'));
    open.push(node);
    const current = await node.next('assign');
    assert.equal(current.attemptNumber, 2);
    assert.equal(t.store.attempt(old.attempt)!.state, 'lost');

    node.send({ type: 'started', attempt: old.attempt, pid: 11 });
    assert.equal((await node.next('drop')).attempt, old.attempt);
    node.send({ type: 'finished', attempt: old.attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
    assert.equal((await node.next('drop')).attempt, old.attempt);
    assert.equal(t.logs.filter((l) => l.event === 'stale_report' && l.attempt === old.attempt).length, 2);

    // the current attempt's reports count, a repeated one is no reason to drop
    node.send({ type: 'started', attempt: current.attempt, pid: 12 });
    node.send({ type: 'started', attempt: current.attempt, pid: 12 });
    await until(() => jobRow(t, 'j').state === 'running', 'running');
    assert.equal(t.store.attempt(old.attempt)!.state, 'lost', 'the stale reports changed nothing');
    assert.equal((await putResult(t.head.httpUrl, tok, old.attempt, await resultArchive())).status, 409);
    assert.equal((await putResult(t.head.httpUrl, tok, current.attempt, await resultArchive())).status, 200);
    assert.ok(!node.inbox.some((m) => m.type === 'drop' && m.attempt === current.attempt));
    assert.equal(jobRow(t, 'j').state, 'done');
  });

  it('frees at once what an attempt held when a returning node lists its result, and takes the result', async () => {
    t = await startTestHead({ nodeTimeout: 5 });
    const tok = t.nodeToken('one');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'a', cpus: 2 }, { name: 'b', cpus: 2 }]));
    const one = hello('one', { resources: { cpus: 2, memory: 0, gpus: 0 } });
    const first = await TestNode.join(t.head.url, tok, one);
    const a = await first.node.next('assign');
    first.node.send({ type: 'started', attempt: a.attempt, pid: 1 });
    await until(() => jobRow(t, 'a').state === 'running', 'running');
    // its `finished` never reached the head: the connection broke first
    await first.node.close();
    const { node, welcome } = await TestNode.join(t.head.url, tok, { ...one, unacknowledged: [a.attempt] });
    open.push(node);
    assert.deepEqual(welcome.drop, []);
    const b = await node.next('assign');
    assert.equal(b.job.name, 'b', 'the cpus of the finished attempt are free');
    assert.equal(t.store.attempt(a.attempt)!.state, 'finished');
    // the `finished` sent late after the reconnect is no reason to drop the result
    node.send({ type: 'finished', attempt: a.attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
    const put = await putResult(t.head.httpUrl, tok, a.attempt, await resultArchive());
    assert.equal(put.status, 200);
    assert.equal(jobRow(t, 'a').state, 'done');
    assert.equal(jobRow(t, 'a').attempt_count, 1);
    assert.ok(!node.inbox.some((m) => m.type === 'drop'));
  });

  it('runs a failed job again while it has retries left, then fails it; a job without retries fails at once', async () => {
    t = await startTestHead();
    const tok = t.nodeToken('n');
    queueBatch(t.store, withRetries(shellBatch('lab', 'b', [{ name: 'flaky' }, { name: 'broken' }, { name: 'plain' }]), { flaky: 2, broken: 2 }));
    const { node } = await TestNode.join(t.head.url, tok, hello('n'));
    open.push(node);
    const results: Record<string, number[]> = { flaky: [1, 1, 0], broken: [3, 3, 3], plain: [4] };
    const tries: Record<string, number> = {};
    for (let i = 0; i < 7; i++) {
      const a = await node.next('assign');
      const exitCode = results[a.job.name]!.shift()!;
      tries[a.job.name] = (tries[a.job.name] ?? 0) + 1;
      assert.equal(a.attemptNumber, tries[a.job.name]);
      const put = await putResult(t.head.httpUrl, tok, a.attempt, await resultArchive({ exitCode }));
      assert.equal(put.status, 200);
      assert.equal(put.json.state, exitCode === 0 ? 'done' : results[a.job.name]!.length > 0 ? 'requeued' : 'failed');
    }
    assert.deepEqual([jobRow(t, 'flaky').state, jobRow(t, 'flaky').attempt_count, jobRow(t, 'flaky').failures], ['done', 3, 2]);
    assert.deepEqual([jobRow(t, 'broken').state, jobRow(t, 'broken').attempt_count, jobRow(t, 'broken').error], ['failed', 3, 'exited with code 3']);
    assert.deepEqual([jobRow(t, 'plain').state, jobRow(t, 'plain').attempt_count], ['failed', 1]);
    const st = await t.http('GET', '/v1/status', t.user('alice'));
    assert.deepEqual(st.json[0].jobs.map((j: { name: string; attempt: number }) => [j.name, j.attempt]), [['flaky', 3], ['broken', 3], ['plain', 1]]);

    // a user's retry starts the count again
    assert.deepEqual((await t.http('POST', '/v1/batches/lab/b/retry', t.user('alice'))).json, { requeued: 2 });
    assert.equal(jobRow(t, 'broken').failures, 0);
  });

  it('counts lost nodes and failed results apart', async () => {
    // one loss and one failure: two against either limit would fail the job
    t = await startTestHead({ maxAttempts: 2 });
    const tok = t.nodeToken('n');
    queueBatch(t.store, withRetries(shellBatch('lab', 'b', [{ name: 'j' }]), { j: 1 }));
    const first = await TestNode.join(t.head.url, tok, hello('n'));
    const a1 = await first.node.next('assign');
    assert.equal((await putResult(t.head.httpUrl, tok, a1.attempt, await resultArchive({ exitCode: 1 }))).json.state, 'requeued');
    const a2 = await first.node.next('assign');
    await first.node.close();
    const { node } = await TestNode.join(t.head.url, tok, hello('n')); // a2 forgotten: lost
    open.push(node);
    const a3 = await node.next('assign');
    assert.equal(a3.attemptNumber, 3);
    assert.equal(t.store.attempt(a2.attempt)!.state, 'lost');
    assert.equal((await putResult(t.head.httpUrl, tok, a3.attempt, await resultArchive())).json.state, 'done');
    assert.deepEqual([jobRow(t, 'j').losses, jobRow(t, 'j').failures], [1, 1]);
  });
});
