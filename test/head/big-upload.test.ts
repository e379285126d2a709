// A streamed result past the size at which the head starts flushing it to disk as it arrives
// (64 MiB): sent in small chunks, as a slow socket delivers it, it is stored byte for byte, its
// members checked against the node's checksums and indexed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { archivePath } from '../../head/archive.js';
import { queueBatch } from '../../head/queue.js';
import { packToBuffer } from '../../compute/pack.js';
import { tempDir } from '../helpers/cli.js';
import { hello, shellBatch, startTestHead, TestNode, type TestHead } from './harness.js';

const SIZE = 80 * 1024 * 1024;
const CHUNK = 16 * 1024;

describe('head: a big streamed result', () => {
  let t: TestHead;
  let node: TestNode;
  let tok: string;
  let work: { dir: string; cleanup: () => void };

  before(async () => {
    t = await startTestHead();
    tok = t.nodeToken('n');
    work = tempDir('distribute-big-');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'big' }]));
    ({ node } = await TestNode.join(t.head.url, tok, hello('n')));
  });
  after(async () => {
    await node.close();
    await t.stop();
    work.cleanup();
  });

  it('is stored whole from many small chunks, checked and indexed', async () => {
    const a = await node.next('assign');
    node.send({ type: 'started', attempt: a.attempt, pid: 100 });
    node.send({ type: 'finished', attempt: a.attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
    // an attempt folder as a node leaves it: random data (packed as a plain tar), logs, result.json
    const root = join(work.dir, 'attempt');
    for (const d of ['distribute_save', '_distribute']) mkdirSync(join(root, d), { recursive: true });
    const data = randomBytes(SIZE);
    writeFileSync(join(root, 'distribute_save', 'data.bin'), data);
    writeFileSync(join(root, '_distribute', 'stdout.log'), 'made data\n');
    writeFileSync(join(root, '_distribute', 'stderr.log'), '');
    writeFileSync(join(root, '_distribute', 'result.json'), JSON.stringify({ exit_code: 0, signal: null, timed_out: false, cancelled: false }));
    const archive = await packToBuffer(root);
    assert.notEqual(archive[0], 0x1f, 'random data is sent as a plain tar');

    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let at = 0; at < archive.length; at += CHUNK) c.enqueue(archive.subarray(at, at + CHUNK));
        c.close();
      },
    });
    const res = await fetch(`${t.head.httpUrl}/v1/results/${a.attempt}`, { method: 'PUT', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/x-tar' }, body, duplex: 'half' } as RequestInit);
    const answer = (await res.json()) as { error?: string; state?: string };
    assert.equal(res.status, 200, answer.error);
    assert.equal(answer.state, 'done');

    assert.ok(readFileSync(archivePath(t.stateDir, 'lab', 'b', 'big')).equals(archive), 'the archive on disk is the upload, byte for byte');
    const member = t.store.db.prepare("SELECT m.size, m.sha256 FROM archive_members m JOIN jobs j ON j.id = m.job_id WHERE j.name = 'big' AND m.path = 'data.bin'").get() as { size: number; sha256: string };
    assert.deepEqual(member, { size: SIZE, sha256: createHash('sha256').update(data).digest('hex') });
  });
});
