import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { queueBatch } from '../../head/queue.js';
import { hello, putResult, resultArchive, shellBatch, startTestHead, TestNode, until, type TestHead } from './harness.js';

function jobRow(t: TestHead, name: string) {
  return t.store.db.prepare('SELECT * FROM jobs WHERE name = ?').get(name) as { state: string; attempt_count: number; exit_code: number | null; error: string | null; node: string | null; id: number };
}

describe('head: node sessions, placement and results', () => {
  let t: TestHead;
  const open: TestNode[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((n) => n.close()));
    await t.stop();
  });

  it('assigns queued jobs to a node with the capabilities, then archives and indexes its result', async () => {
    t = await startTestHead();
    const alice = t.user('alice');
    const gpuTok = t.nodeToken('gpu');
    const plainTok = t.nodeToken('plain');
    assert.ok(queueBatch(t.store, shellBatch('lab', 'b1', [{ name: 'j1' }], { capabilities: ['cuda'] })).ok);

    const { node: plain } = await TestNode.join(t.head.url, plainTok, hello('plain', { capabilities: ['python3'] }));
    open.push(plain);
    const { node: gpu } = await TestNode.join(t.head.url, gpuTok, hello('gpu', { capabilities: ['cuda', 'python3'], resources: { cpus: 8, memory: 0, gpus: 2 } }));
    open.push(gpu);
    const assign = await gpu.next('assign');
    assert.equal(assign.namespace, 'lab');
    assert.equal(assign.batch, 'b1');
    assert.equal(assign.job.name, 'j1');
    assert.equal(assign.job.command, 'echo j1');
    assert.equal(assign.attemptNumber, 1);
    assert.equal(assign.kind, 'shell');
    assert.deepEqual(assign.gpus, []);
    assert.equal(plain.inbox.filter((m) => m.type === 'assign').length, 0, 'the node without cuda got nothing');

    gpu.send({ type: 'started', attempt: assign.attempt, pid: 1234 });
    await until(() => jobRow(t, 'j1').state === 'running', 'job running');
    const st = await t.http('GET', '/v1/status', alice);
    assert.equal(st.json[0].jobs[0].node, 'gpu');
    assert.equal(st.json[0].counts.running, 1);

    gpu.send({ type: 'finished', attempt: assign.attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
    await until(() => t.store.attempt(assign.attempt)?.state === 'finished', 'attempt finished');
    assert.equal(jobRow(t, 'j1').state, 'running', 'done only once the result is on disk');

    const put = await putResult(t.head.httpUrl, gpuTok, assign.attempt, await resultArchive({ files: { 'out.txt': 'result\n', 'sub/deep.dat': 'x'.repeat(1000) } }));
    assert.equal(put.status, 200, JSON.stringify(put.json));
    assert.equal(put.json.state, 'done');
    const file = join(t.stateDir, 'archive', 'lab', 'b1', 'j1.tar.gz');
    assert.ok(existsSync(file));
    const members = t.store.db.prepare('SELECT path, size FROM archive_members WHERE job_id = ? ORDER BY path').all(jobRow(t, 'j1').id);
    const resultJsonSize = JSON.stringify({ exit_code: 0, signal: null, timed_out: false, cancelled: false }).length;
    assert.deepEqual(members, [
      { path: '_distribute/result.json', size: resultJsonSize },
      { path: '_distribute/stderr.log', size: 0 },
      { path: '_distribute/stdout.log', size: 19 },
      { path: 'out.txt', size: 7 },
      { path: 'sub/deep.dat', size: 1000 },
    ]);
    const j = jobRow(t, 'j1');
    assert.equal(j.state, 'done');
    assert.equal(j.exit_code, 0);
    assert.deepEqual(readdirSync(join(t.stateDir, 'archive', '.tmp')), [], 'no temp file left');

    // the same upload again is stale: 409, nothing rewritten
    const again = await putResult(t.head.httpUrl, gpuTok, assign.attempt, await resultArchive({ exitCode: 3 }));
    assert.equal(again.status, 409);
    assert.equal(jobRow(t, 'j1').exit_code, 0);
  });

  it('marks a job failed from its result.json, and refuses a result from another node', async () => {
    t = await startTestHead();
    const tok = t.nodeToken('n1');
    const other = t.nodeToken('n2');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'bad' }]));
    const { node } = await TestNode.join(t.head.url, tok, hello('n1'));
    open.push(node);
    const a = await node.next('assign');
    assert.equal((await putResult(t.head.httpUrl, other, a.attempt, await resultArchive())).status, 403);
    assert.equal((await putResult(t.head.httpUrl, tok, 999_999, await resultArchive())).status, 409, 'an unknown attempt is stale');
    const user = t.user('alice');
    const asUser = await fetch(`${t.head.httpUrl}/v1/results/${a.attempt}`, { method: 'PUT', headers: { authorization: `Bearer ${user}` }, body: 'x' });
    assert.equal(asUser.status, 403);
    const put = await putResult(t.head.httpUrl, tok, a.attempt, await resultArchive({ exitCode: 2 }));
    assert.equal(put.status, 200);
    assert.equal(put.json.state, 'failed');
    const j = jobRow(t, 'bad');
    assert.equal(j.state, 'failed');
    assert.equal(j.exit_code, 2);
    assert.equal(j.error, 'exited with code 2');
  });

  it('refuses an archive with a member leaving the tree: the job fails, nothing is stored', async () => {
    t = await startTestHead();
    const tok = t.nodeToken('n1');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'evil' }]));
    const { node } = await TestNode.join(t.head.url, tok, hello('n1'));
    open.push(node);
    const a = await node.next('assign');
    const { symlinkSync } = await import('node:fs');
    const body = await resultArchive({ raw: (dir) => symlinkSync('../../../etc/passwd', join(dir, 'escape')) });
    const put = await putResult(t.head.httpUrl, tok, a.attempt, body);
    assert.equal(put.status, 400);
    assert.match(put.json.error!, /escape.*outside the archive/);
    assert.equal(jobRow(t, 'evil').state, 'failed');
    assert.equal(existsSync(join(t.stateDir, 'archive', 'lab', 'b', 'evil.tar.gz')), false);
    assert.equal(t.store.db.prepare('SELECT COUNT(*) FROM archive_members').pluck().get(), 0);
  });

  it('frees resources on finished and places the next job at once', async () => {
    t = await startTestHead();
    const tok = t.nodeToken('one');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'a', cpus: 2 }, { name: 'b', cpus: 2 }]));
    const { node } = await TestNode.join(t.head.url, tok, hello('one', { resources: { cpus: 2, memory: 0, gpus: 0 } }));
    open.push(node);
    const first = await node.next('assign');
    assert.equal(first.job.name, 'a');
    node.send({ type: 'started', attempt: first.attempt, pid: 1 });
    await assert.rejects(node.next('assign', () => true, 300), /no assign/);
    node.send({ type: 'finished', attempt: first.attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
    const second = await node.next('assign');
    assert.equal(second.job.name, 'b');
  });

  it('fails a job at once when its attempt could not start', async () => {
    t = await startTestHead();
    const tok = t.nodeToken('n');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'j' }]));
    const { node } = await TestNode.join(t.head.url, tok, hello('n'));
    open.push(node);
    const a = await node.next('assign');
    node.send({ type: 'finished', attempt: a.attempt, exitCode: null, signal: null, timedOut: false, cancelled: false, error: 'input mesh.dat: hash mismatch' });
    await until(() => jobRow(t, 'j').state === 'failed', 'job failed');
    assert.equal(jobRow(t, 'j').error, 'input mesh.dat: hash mismatch');
  });

  it('requeues the attempts of a node silent for node_timeout as attempt+1 elsewhere, and fails after max_attempts', async () => {
    t = await startTestHead({ nodeTimeout: 0.4, heartbeat: 0.1, maxAttempts: 2 });
    const tokA = t.nodeToken('a');
    const tokB = t.nodeToken('b');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'j' }]));
    const { node: a } = await TestNode.join(t.head.url, tokA, hello('a'));
    open.push(a);
    const first = await a.next('assign');
    a.send({ type: 'started', attempt: first.attempt, pid: 1 });
    // a goes silent (no heartbeats); b joins and keeps beating
    const { node: b } = await TestNode.join(t.head.url, tokB, hello('b'));
    open.push(b);
    b.beat(100);
    const second = await b.next('assign', () => true, 3000);
    assert.equal(second.job.name, 'j');
    assert.equal(second.attemptNumber, 2);
    assert.notEqual(second.attempt, first.attempt);
    assert.equal((await a.closed).code, 4003);
    assert.ok(t.logs.some((l) => l.event === 'node_lost' && l.node === 'a'));
    assert.equal(t.store.attempt(first.attempt)!.state, 'lost');
    // a's late result is stale
    assert.equal((await putResult(t.head.httpUrl, tokA, first.attempt, await resultArchive())).status, 409);
    // b goes silent too: second loss = max_attempts → failed
    b.silence();
    await until(() => jobRow(t, 'j').state === 'failed', 'job failed after two losses', 3000);
    assert.match(jobRow(t, 'j').error!, /lost its node 2 times/);
  });

  it('keeps the attempts of a node that reconnects within node_timeout, and drops stale ones', async () => {
    t = await startTestHead({ nodeTimeout: 3 });
    const tok = t.nodeToken('n');
    const user = t.user('alice');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'keep' }, { name: 'killed' }]));
    const first = await TestNode.join(t.head.url, tok, hello('n'));
    const k = await first.node.next('assign', (m) => m.job.name === 'keep');
    const d = await first.node.next('assign', (m) => m.job.name === 'killed');
    first.node.send({ type: 'started', attempt: k.attempt, pid: 1 });
    first.node.send({ type: 'started', attempt: d.attempt, pid: 2 });
    await until(() => jobRow(t, 'killed').state === 'running', 'running');
    await first.node.close();
    // while it is away, a user kills one job
    assert.deepEqual((await t.http('POST', '/v1/batches/lab/b/kill', user, { job: 'killed' })).json, { cancelled: 1 });
    const back = await TestNode.join(t.head.url, tok, hello('n', { running: [{ attempt: k.attempt, paused: false }, { attempt: d.attempt, paused: false }] }));
    open.push(back.node);
    assert.deepEqual(back.welcome.drop, [d.attempt]);
    assert.equal(jobRow(t, 'keep').state, 'running');
    assert.equal(t.store.attempt(k.attempt)!.state, 'running');
    assert.equal(jobRow(t, 'killed').state, 'cancelled');
  });

  it('treats attempts a returning node no longer knows as lost', async () => {
    t = await startTestHead({ nodeTimeout: 3 });
    const tok = t.nodeToken('n');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'j' }]));
    const first = await TestNode.join(t.head.url, tok, hello('n'));
    const a = await first.node.next('assign');
    await first.node.close();
    const back = await TestNode.join(t.head.url, tok, hello('n')); // restarted: holds nothing
    open.push(back.node);
    const again = await back.node.next('assign');
    assert.equal(again.attemptNumber, 2);
    assert.equal(t.store.attempt(a.attempt)!.state, 'lost');
  });

  it('kill cancels queued jobs at once and sends cancel for running ones', async () => {
    t = await startTestHead();
    const tok = t.nodeToken('n');
    const alice = t.user('alice');
    const bob = t.user('bob');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'run', cpus: 4 }, { name: 'wait', cpus: 4 }]));
    const { node } = await TestNode.join(t.head.url, tok, hello('n'));
    open.push(node);
    const a = await node.next('assign');
    node.send({ type: 'started', attempt: a.attempt, pid: 9 });
    await until(() => jobRow(t, 'run').state === 'running', 'running');
    assert.equal((await t.http('POST', '/v1/batches/lab/b/kill', bob, {})).status, 403, 'not bob\'s namespace');
    const r = await t.http('POST', '/v1/batches/lab/b/kill', alice, {});
    assert.deepEqual(r.json, { cancelled: 2 });
    const cancel = await node.next('cancel');
    assert.equal(cancel.attempt, a.attempt);
    assert.equal(jobRow(t, 'wait').state, 'cancelled');
    assert.equal(jobRow(t, 'run').state, 'cancelled');
    // the cancelled attempt holds its cpus until the node says the process is gone
    queueBatch(t.store, shellBatch('lab', 'c', [{ name: 'next', cpus: 4 }]));
    node.send({ type: 'finished', attempt: a.attempt, exitCode: null, signal: 'SIGTERM', timedOut: false, cancelled: true, error: null });
    const next = await node.next('assign');
    assert.equal(next.job.name, 'next');
    assert.equal((await putResult(t.head.httpUrl, tok, a.attempt, await resultArchive())).status, 409, 'a cancelled attempt\'s result is stale');
  });

  it('retry requeues failed jobs as a new attempt', async () => {
    t = await startTestHead();
    const tok = t.nodeToken('n');
    const alice = t.user('alice');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'j' }]));
    const { node } = await TestNode.join(t.head.url, tok, hello('n'));
    open.push(node);
    const a = await node.next('assign');
    assert.equal((await putResult(t.head.httpUrl, tok, a.attempt, await resultArchive({ exitCode: 1 }))).status, 200);
    assert.deepEqual((await t.http('POST', '/v1/batches/lab/b/retry', alice)).json, { requeued: 1 });
    const again = await node.next('assign');
    assert.equal(again.attemptNumber, 2);
    const put = await putResult(t.head.httpUrl, tok, again.attempt, await resultArchive({ exitCode: 0 }));
    assert.equal(put.json.state, 'done');
    assert.equal(jobRow(t, 'j').state, 'done');
  });

  it('pauses the jobs of a paused node, places nothing there, and places again on resume', async () => {
    t = await startTestHead();
    const tok = t.nodeToken('desk');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'first', cpus: 2 }, { name: 'second', cpus: 2 }]));
    const { node } = await TestNode.join(t.head.url, tok, hello('desk'));
    open.push(node);
    const a = await node.next('assign');
    node.send({ type: 'started', attempt: a.attempt, pid: 5 });
    const b = await node.next('assign');
    node.send({ type: 'paused', paused: true, by: 'someone at the desk', until: null });
    await until(() => jobRow(t, 'first').state === 'paused', 'job paused');
    assert.equal(jobRow(t, 'second').state, 'assigned', 'not started yet: nothing to pause');
    queueBatch(t.store, shellBatch('lab', 'c', [{ name: 'third' }]));
    node.send({ type: 'finished', attempt: b.attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
    await assert.rejects(node.next('assign', () => true, 300), /no assign/, 'a paused node gets no work');
    node.send({ type: 'paused', paused: false, by: null, until: null });
    assert.equal((await node.next('assign')).job.name, 'third');
    assert.equal(jobRow(t, 'first').state, 'running');
  });

  it('moves a job whose build failed to another node, and fails the batch once every capable node failed it', async () => {
    t = await startTestHead();
    const tokA = t.nodeToken('a');
    const tokB = t.nodeToken('b');
    const batchId = (queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'j', cpus: 4 }, { name: 'k', cpus: 4 }])) as { batchId: number }).batchId;
    // b is known and capable, but paused for now
    const { node: b } = await TestNode.join(t.head.url, tokB, hello('b', { paused: true }));
    open.push(b);
    const { node: a } = await TestNode.join(t.head.url, tokA, hello('a'));
    open.push(a);
    const onA = await a.next('assign');
    a.send({ type: 'build_failed', batchId, attempt: onA.attempt, log: 'make: *** [all] Error 1' });
    await assert.rejects(a.next('assign', () => true, 300), /no assign/, 'not again on a');
    assert.equal(jobRow(t, onA.job.name).state, 'queued');
    b.send({ type: 'paused', paused: false, by: null, until: null });
    const onB = await b.next('assign');
    assert.equal(onB.job.name, onA.job.name);
    b.send({ type: 'build_failed', batchId, attempt: onB.attempt, log: 'again' });
    await until(() => jobRow(t, 'j').state === 'failed' && jobRow(t, 'k').state === 'failed', 'both jobs failed');
    assert.match(jobRow(t, 'k').error!, /build failed on every capable node \(a, b\)/);
  });

  it('answers 500 and logs loudly when the archive cannot be written, then takes the retried upload', async () => {
    t = await startTestHead();
    const tok = t.nodeToken('n');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'j' }]));
    const { node } = await TestNode.join(t.head.url, tok, hello('n'));
    open.push(node);
    const a = await node.next('assign');
    // the temp folder of the archive is in the way: writing fails like a broken disk would
    const { rmSync, writeFileSync } = await import('node:fs');
    const tmp = join(t.stateDir, 'archive', '.tmp');
    rmSync(tmp, { recursive: true, force: true });
    writeFileSync(tmp, 'not a folder');
    const body = await resultArchive();
    const failed = await putResult(t.head.httpUrl, tok, a.attempt, body);
    assert.equal(failed.status, 500);
    assert.match(failed.json.error!, new RegExp(`could not store the result of attempt ${a.attempt}`));
    assert.ok(t.logs.some((l) => l.event === 'result_write_failed' && (l as { level?: number }).level === 50));
    assert.notEqual(jobRow(t, 'j').state, 'done');
    rmSync(tmp);
    const again = await putResult(t.head.httpUrl, tok, a.attempt, body);
    assert.equal(again.status, 200);
    assert.equal(jobRow(t, 'j').state, 'done');
  });
});
