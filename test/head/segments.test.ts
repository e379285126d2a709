// Small results in per-batch segment files: results sent in `result` messages are appended to
// `<batch>/.segments/<n>.seg` (no file each), indexed with their range and SHA-256; pull and
// logs read the ranges; a flipped byte fails that job alone; `rm` of one job rewrites its
// segment without it (the others still pull), of the batch removes the segments; a retry's
// result in a file of its own, or in a segment after a file, leaves one place indexed.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { copyMember } from '../../head/archive.js';
import { locateArchive } from '../../head/archive-location.js';
import { queueBatch } from '../../head/queue.js';
import { hello, putResult, resultArchive, shellBatch, startTestHead, TestNode, until, untar, type TestHead } from './harness.js';

async function text(r: Readable): Promise<string> {
  let s = '';
  for await (const c of r) s += String(c);
  return s;
}

interface Place {
  job: string;
  segment: string;
  offset: number;
  length: number;
  sha256: string;
}

describe('head: small results in segment files', () => {
  let t: TestHead;
  const open: TestNode[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((n) => n.close()));
    await t.stop();
  });

  const places = (): Place[] =>
    t.store.db.prepare('SELECT j.name AS job, s.segment, s.offset, s.length, s.sha256 FROM archive_segments s JOIN jobs j ON j.id = s.job_id ORDER BY j.name').all() as Place[];
  const batchDir = (b: string) => join(t.stateDir, 'archive', 'lab', b);

  /** Runs `names` on one node at once and sends every result in a message, all in one go; their answers. */
  async function runAll(names: string[], opts: { exitCode?: number } = {}): Promise<{ node: TestNode; tok: string; attempts: Map<string, number> }> {
    const tok = t.nodeToken('n1');
    const { node } = await TestNode.join(t.head.url, tok, hello('n1', { resources: { cpus: names.length, memory: 0, gpus: 0 } }));
    open.push(node);
    const attempts = new Map<string, number>();
    while (attempts.size < names.length) {
      const a = await node.next('assign');
      attempts.set(a.job.name, a.attempt);
      node.send({ type: 'started', attempt: a.attempt, pid: 1 });
      node.send({ type: 'finished', attempt: a.attempt, exitCode: opts.exitCode ?? 0, signal: null, timedOut: false, cancelled: false, error: null });
    }
    await until(() => [...attempts.values()].every((a) => t.store.attempt(a)?.state === 'finished'), 'attempts finished');
    const archives = await Promise.all(names.map((n) => resultArchive({ stdout: `stdout of ${n}\n`, exitCode: opts.exitCode, files: { 'out.txt': `out of ${n}\n` } })));
    names.forEach((n, i) => node.send({ type: 'result', id: i + 1, attempt: attempts.get(n)!, data: new Uint8Array(archives[i]!) }));
    for (let i = 0; i < names.length; i++) {
      const answer = await node.next('result_taken', (m) => m.re === i + 1);
      assert.equal(answer.status, 200, String(answer.message));
    }
    return { node, tok, attempts };
  }

  async function pull(user: string, batch: string): Promise<{ files: Map<string, string>; damaged: string[] }> {
    const res = await fetch(`${t.head.httpUrl}/v1/pull`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user}`, 'content-type': 'application/json' },
      body: JSON.stringify({ namespace: 'lab', batch, exclude: ['_distribute/'] }),
    });
    assert.equal(res.status, 200);
    const all = await untar(res.body!);
    const damaged = [...all.keys()].filter((k) => k.startsWith('.distribute/damaged/')).map((k) => k.slice('.distribute/damaged/'.length));
    for (const k of [...all.keys()]) if (k.startsWith('.distribute/')) all.delete(k);
    return { files: all, damaged };
  }

  it('appends them to one segment, no file each; pull and logs read the ranges', async () => {
    t = await startTestHead({ smallResults: 'segments' });
    const alice = t.user('alice');
    const names = ['a', 'b', 'c', 'd', 'e'];
    assert.ok(queueBatch(t.store, shellBatch('lab', 'seg', names.map((name) => ({ name })))).ok);
    await runAll(names);

    assert.deepEqual(readdirSync(batchDir('seg')), ['.segments'], 'no file of its own for any job');
    const segs = readdirSync(join(batchDir('seg'), '.segments'));
    const rows = places();
    assert.deepEqual(rows.map((r) => r.job), names);
    // ranges tile the segments without gap or overlap
    let total = 0;
    for (const seg of segs) {
      const inIt = rows.filter((r) => r.segment === `lab/seg/.segments/${seg}`).sort((x, y) => x.offset - y.offset);
      let at = 0;
      for (const r of inIt) {
        assert.equal(r.offset, at);
        at += r.length;
      }
      assert.equal(statSync(join(batchDir('seg'), '.segments', seg)).size, at);
      total += inIt.length;
    }
    assert.equal(total, names.length);

    const { files, damaged } = await pull(alice, 'seg');
    assert.deepEqual(damaged, []);
    assert.deepEqual(Object.fromEntries(files), Object.fromEntries(names.map((n) => [`${n}/out.txt`, `out of ${n}\n`])));
    const log = await t.http('GET', '/v1/logs/lab/seg/c?stream=stdout', alice);
    assert.equal(log.status, 200);
    assert.equal(log.text, 'stdout of c\n');
  });

  it('a flipped byte in a segment fails that job alone in a pull', async () => {
    t = await startTestHead({ smallResults: 'segments' });
    const alice = t.user('alice');
    const names = ['a', 'b', 'c'];
    assert.ok(queueBatch(t.store, shellBatch('lab', 'flip', names.map((name) => ({ name })))).ok);
    await runAll(names);
    const b = places().find((r) => r.job === 'b')!;
    const file = join(t.stateDir, 'archive', ...b.segment.split('/'));
    const bytes = readFileSync(file);
    // in the gzip header's MTIME: a flip gzip itself does not notice, only the recorded SHA-256
    assert.deepEqual([...bytes.subarray(b.offset, b.offset + 2)], [0x1f, 0x8b]);
    bytes[b.offset + 4]! ^= 0x01;
    writeFileSync(file, bytes);

    const { files, damaged } = await pull(alice, 'flip');
    assert.deepEqual(damaged, ['b']);
    assert.deepEqual([...files.keys()].sort(), ['a/out.txt', 'c/out.txt']);
    assert.equal(files.get('c/out.txt'), 'out of c\n');
    const log = await t.http('GET', '/v1/logs/lab/flip/a?stream=stdout', alice);
    assert.equal(log.text, 'stdout of a\n');
  });

  it('rm of one job rewrites its segment without it; rm of the batch removes the segments', async () => {
    t = await startTestHead({ smallResults: 'segments' });
    const alice = t.user('alice');
    const names = ['a', 'b', 'c', 'd'];
    assert.ok(queueBatch(t.store, shellBatch('lab', 'rm', names.map((name) => ({ name })))).ok);
    await runAll(names);
    const before = places();
    const b = before.find((r) => r.job === 'b')!;
    const segFile = (s: string) => join(t.stateDir, 'archive', ...s.split('/'));
    const sizeBefore = before.filter((r) => r.segment === b.segment).reduce((n, r) => n + r.length, 0);
    assert.equal(statSync(segFile(b.segment)).size, sizeBefore);

    const one = await t.http('POST', '/v1/batches/lab/rm/rm', alice, { job: 'b' });
    assert.equal(one.status, 200, one.text);
    assert.equal(one.json.bytes, b.length);
    assert.equal(existsSync(segFile(b.segment)), false, 'the old segment is gone');
    const after = places();
    assert.deepEqual(after.map((r) => r.job), ['a', 'c', 'd']);
    const live = after.filter((r) => before.find((x) => x.job === r.job)!.segment === b.segment);
    for (const r of live) {
      assert.notEqual(r.segment, b.segment);
      assert.equal(r.sha256, before.find((x) => x.job === r.job)!.sha256, 'the same bytes');
    }
    const rewritten = new Set(live.map((r) => r.segment));
    const newSize = [...rewritten].reduce((n, s) => n + statSync(segFile(s)).size, 0);
    assert.equal(newSize, sizeBefore - b.length, 'the segment shrank by the removed job');
    const { files, damaged } = await pull(alice, 'rm');
    assert.deepEqual(damaged, []);
    assert.deepEqual([...files.keys()].sort(), ['a/out.txt', 'c/out.txt', 'd/out.txt']);
    assert.equal(files.get('d/out.txt'), 'out of d\n');

    const all = await t.http('POST', '/v1/batches/lab/rm/rm', alice, {});
    assert.equal(all.status, 200, all.text);
    assert.equal(all.json.batch_removed, true);
    assert.equal(existsSync(batchDir('rm')), false);
    assert.deepEqual(places(), []);
  });

  it('a retry moves a job between a segment and a file of its own, one place indexed', async () => {
    t = await startTestHead({ smallResults: 'segments' });
    const alice = t.user('alice');
    const batch = shellBatch('lab', 'retry', [{ name: 'r' }]);
    batch.jobs[0]!.record.retries = 2;
    assert.ok(queueBatch(t.store, batch).ok);
    // first attempt fails: its result to a segment
    const { node, tok } = await runAll(['r'], { exitCode: 3 });
    assert.equal(places().length, 1);
    // second: uploaded over HTTP, a file of its own; the segment row goes
    const second = await node.next('assign');
    node.send({ type: 'started', attempt: second.attempt, pid: 2 });
    node.send({ type: 'finished', attempt: second.attempt, exitCode: 5, signal: null, timedOut: false, cancelled: false, error: null });
    await until(() => t.store.attempt(second.attempt)?.state === 'finished', 'second finished');
    const put = await putResult(t.head.httpUrl, tok, second.attempt, await resultArchive({ exitCode: 5, files: { 'out.txt': 'second\n' } }));
    assert.equal(put.status, 200);
    assert.deepEqual(places(), []);
    assert.ok(existsSync(join(batchDir('retry'), 'r.tar.gz')));
    const out = new PassThrough();
    const read = text(out);
    assert.equal(await copyMember(locateArchive(t.store, t.stateDir, 'lab', 'retry', 'r'), 'out.txt', out), true);
    out.end();
    assert.equal(await read, 'second\n', 'the job\'s archive is its file now');
    // third: in a message again: to a segment, and the file of its own is deleted
    const third = await node.next('assign');
    node.send({ type: 'started', attempt: third.attempt, pid: 3 });
    node.send({ type: 'finished', attempt: third.attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
    await until(() => t.store.attempt(third.attempt)?.state === 'finished', 'third finished');
    node.send({ type: 'result', id: 99, attempt: third.attempt, data: new Uint8Array(await resultArchive({ files: { 'out.txt': 'third\n' } })) });
    assert.equal((await node.next('result_taken', (m) => m.re === 99)).status, 200);
    assert.equal(places().length, 1);
    assert.equal(existsSync(join(batchDir('retry'), 'r.tar.gz')), false);
    assert.equal((await pull(alice, 'retry')).files.get('r/out.txt'), 'third\n');
  });
});
