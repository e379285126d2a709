// The head checks each member of a result against the node's checksums as it stores it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { archivePath, MAX_MISMATCHED_UPLOADS } from '../../head/archive.js';
import { queueBatch } from '../../head/queue.js';
import type { HeadMessage } from '../../shared/protocol/messages.js';
import { hello, putResult, resultArchive, shellBatch, startTestHead, TestNode, type TestHead } from './harness.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const RESULT_JSON = JSON.stringify({ exit_code: 0, signal: null, timed_out: false, cancelled: false });

/** A result whose `_distribute/sha256.json` says `out.txt` holds `claimed`. */
function archiveClaiming(claimed: string): Promise<Buffer> {
  return resultArchive({
    files: { 'out.txt': 'the real bytes\n' },
    stdout: 'so\n',
    raw: (dir) =>
      writeFileSync(
        join(dir, '_distribute', 'sha256.json'),
        JSON.stringify({ sha256: { 'out.txt': sha(claimed), '_distribute/stdout.log': sha('so\n'), '_distribute/stderr.log': sha(''), '_distribute/result.json': sha(RESULT_JSON) } }),
      ),
  });
}

describe('head: result checksums', () => {
  let t: TestHead;
  let tok: string;
  let node: TestNode;
  const assigns = new Map<string, Extract<HeadMessage, { type: 'assign' }>>();

  before(async () => {
    t = await startTestHead();
    tok = t.nodeToken('n');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'good' }, { name: 'bad' }, { name: 'old' }]));
    ({ node } = await TestNode.join(t.head.url, tok, hello('n', { resources: { cpus: 3, memory: 0, gpus: 0 } })));
    for (let i = 0; i < 3; i++) {
      const a = await node.next('assign');
      assigns.set(a.job.name, a);
      node.send({ type: 'started', attempt: a.attempt, pid: 100 + i });
      node.send({ type: 'finished', attempt: a.attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
    }
  });
  after(async () => {
    await node.close();
    await t.stop();
  });

  const indexed = (job: string) =>
    t.store.db
      .prepare('SELECT m.path, m.sha256 FROM archive_members m JOIN jobs j ON j.id = m.job_id WHERE j.name = ? ORDER BY m.path')
      .all(job) as { path: string; sha256: string | null }[];
  const state = (job: string) => (t.store.db.prepare('SELECT state FROM jobs WHERE name = ?').get(job) as { state: string }).state;

  it('stores a result whose bytes match, indexing each file\'s SHA-256 and not the checksums member', async () => {
    const put = await putResult(t.head.httpUrl, tok, assigns.get('good')!.attempt, await archiveClaiming('the real bytes\n'));
    assert.equal(put.status, 200, put.json.error);
    const rows = indexed('good');
    assert.deepEqual(rows.map((r) => r.path), ['_distribute/result.json', '_distribute/stderr.log', '_distribute/stdout.log', 'out.txt']);
    assert.equal(rows.find((r) => r.path === 'out.txt')!.sha256, sha('the real bytes\n'));
  });

  it('answers 422 (send it again) to bytes that differ from the node\'s checksums, then refuses after repeated damage', async () => {
    const attempt = assigns.get('bad')!.attempt;
    const dest = archivePath(t.stateDir, 'lab', 'b', 'bad');
    for (let i = 1; i < MAX_MISMATCHED_UPLOADS; i++) {
      const put = await putResult(t.head.httpUrl, tok, attempt, await archiveClaiming('other bytes\n'));
      assert.equal(put.status, 422);
      assert.match(put.json.error ?? '', /out\.txt: SHA-256 .* where the node sent/);
      assert.equal(existsSync(dest), false, 'nothing stored');
      assert.equal(state('bad'), 'running');
    }
    const last = await putResult(t.head.httpUrl, tok, attempt, await archiveClaiming('other bytes\n'));
    assert.equal(last.status, 400);
    assert.equal(state('bad'), 'failed');
  });

  it('takes a result without checksums (packed before they existed), indexing the hashes it computed', async () => {
    const put = await putResult(t.head.httpUrl, tok, assigns.get('old')!.attempt, await resultArchive({ files: { 'out.txt': 'old\n' } }));
    assert.equal(put.status, 200);
    assert.equal(indexed('old').find((r) => r.path === 'out.txt')!.sha256, sha('old\n'));
  });
});
