import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { queueBatch } from '../../head/queue.js';
import type { HeadMessage } from '../../shared/protocol/messages.js';
import { hello, putResult, resultArchive, shellBatch, startTestHead, TestNode, untar, type TestHead } from './harness.js';

describe('head: logs, pull, resolve', () => {
  let t: TestHead;
  let alice: string;
  let bob: string;
  let tok: string;
  let node: TestNode;
  const assigns = new Map<string, Extract<HeadMessage, { type: 'assign' }>>();

  before(async () => {
    t = await startTestHead();
    alice = t.user('alice');
    bob = t.user('bob');
    tok = t.nodeToken('n');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'j1' }, { name: 'j2' }, { name: 'live' }]));
    ({ node } = await TestNode.join(t.head.url, tok, hello('n', { resources: { cpus: 3, memory: 0, gpus: 0 } })));
    for (let i = 0; i < 3; i++) {
      const a = await node.next('assign');
      assigns.set(a.job.name, a);
      node.send({ type: 'started', attempt: a.attempt, pid: 100 + i });
    }
    for (const [name, files] of [['j1', { 'out.txt': 'one\n', 'data/big.csv': 'a,b\n' }], ['j2', { 'out.txt': 'two\n' }]] as const) {
      const a = assigns.get(name)!;
      node.send({ type: 'finished', attempt: a.attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
      const put = await putResult(t.head.httpUrl, tok, a.attempt, await resultArchive({ files, stdout: `stdout of ${name}\n` }));
      assert.equal(put.status, 200);
    }
  });
  after(async () => {
    await node.close();
    await t.stop();
  });

  it('reads a finished job\'s stdout from its archive', async () => {
    const r = await t.http('GET', '/v1/logs/lab/b/j1', alice);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'stdout of j1\n');
    const e = await t.http('GET', '/v1/logs/lab/b/j2?stream=stderr', alice);
    assert.equal(e.text, '');
    assert.equal((await t.http('GET', '/v1/logs/lab/b/j1', bob)).status, 403);
    assert.equal((await t.http('GET', '/v1/logs/lab/b/nope', alice)).status, 404);
  });

  it('follows a running job\'s log from its node until it ends, then finishes from the archive', async () => {
    const a = assigns.get('live')!;
    let written = 'first line\n';
    node.answer = (m) => {
      if (m.type !== 'read_log') return null;
      assert.equal(m.attempt, a.attempt);
      const data = Buffer.from(written).subarray(m.offset, m.offset + m.max);
      return { type: 'log_data', re: m.id, data, size: written.length, running: true };
    };
    const res = await fetch(`${t.head.httpUrl}/v1/logs/lab/b/live?follow=1`, { headers: { authorization: `Bearer ${alice}` } });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let seen = '';
    const readUntil = async (text: string) => {
      while (!seen.includes(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`log ended before ${JSON.stringify(text)}; got ${JSON.stringify(seen)}`);
        seen += Buffer.from(value).toString();
      }
    };
    await readUntil('first line\n');
    written += 'second line\n'; // the job prints more while the user watches
    await readUntil('second line\n');
    // the job ends; its archive holds the whole log, of which the rest is sent
    node.send({ type: 'finished', attempt: a.attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
    assert.equal((await putResult(t.head.httpUrl, tok, a.attempt, await resultArchive({ stdout: 'first line\nsecond line\nlast line\n' }))).status, 200);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += Buffer.from(value).toString();
    }
    assert.equal(seen, 'first line\nsecond line\nlast line\n');
    node.answer = null;
  });

  it('pulls every archived member of a batch as one tar of <job>/<path>', async () => {
    const res = await fetch(`${t.head.httpUrl}/v1/pull`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: JSON.stringify({ namespace: 'lab', batch: 'b' }) });
    assert.equal(res.status, 200);
    const files = await untar(res.body!);
    assert.deepEqual([...files.keys()].sort(), [
      'j1/_distribute/result.json', 'j1/_distribute/stderr.log', 'j1/_distribute/stdout.log', 'j1/data/big.csv', 'j1/out.txt',
      'j2/_distribute/result.json', 'j2/_distribute/stderr.log', 'j2/_distribute/stdout.log', 'j2/out.txt',
      'live/_distribute/result.json', 'live/_distribute/stderr.log', 'live/_distribute/stdout.log', 'live/out.txt',
    ]);
    assert.equal(files.get('j2/out.txt'), 'two\n');
    assert.equal(files.get('j1/data/big.csv'), 'a,b\n');
  });

  it('selects members with include and exclude regexes over <job>/<path>', async () => {
    const pull = async (body: object, token = alice) =>
      fetch(`${t.head.httpUrl}/v1/pull`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ namespace: 'lab', batch: 'b', ...body }) });
    const only = await untar((await pull({ include: ['out\\.txt$'], exclude: ['^live/'] })).body!);
    assert.deepEqual([...only.keys()].sort(), ['j1/out.txt', 'j2/out.txt']);
    assert.equal((await pull({ include: ['('] })).status, 400);
    assert.equal((await pull({}, bob)).status, 403);
  });

  it('resolves a batch name to its namespace, 409 when ambiguous', async () => {
    assert.deepEqual((await t.http('GET', '/v1/resolve?batch=b', alice)).json, { namespace: 'lab', batch: 'b' });
    assert.equal((await t.http('GET', '/v1/resolve?batch=b', bob)).status, 404, 'bob cannot see lab');
    queueBatch(t.store, shellBatch('lab2', 'b', [{ name: 'x' }]));
    const amb = await t.http('GET', '/v1/resolve?batch=b', alice);
    assert.equal(amb.status, 409);
    assert.deepEqual(amb.json.namespaces, ['lab', 'lab2']);
    assert.deepEqual((await t.http('GET', '/v1/resolve?batch=b&namespace=lab2', alice)).json, { namespace: 'lab2', batch: 'b' });
  });

  it('shows status with the DESIGN shape, each job in one state', async () => {
    const st = await t.http('GET', '/v1/status?namespace=lab', alice);
    assert.equal(st.status, 200);
    assert.deepEqual(st.json, [
      {
        namespace: 'lab', batch_name: 'b', state: 'done',
        counts: { queued: 0, assigned: 0, running: 0, paused: 0, done: 3, failed: 0, cancelled: 0 },
        jobs: ['j1', 'j2', 'live'].map((name) => ({ name, state: 'done', node: 'n', attempt: 1, exit_code: 0, error: null, waiting: null, memory: null, usage: null })),
      },
    ]);
  });
});
