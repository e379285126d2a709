// Queueing a batch in chunks (head/queue.ts): whole at the end, with its dependencies, under its
// own name; invisible under the loading namespace meanwhile; nothing left when it is refused at
// the last chunk, or when the head starts again after it stopped halfway.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { QUEUE_CHUNK, type QueueRow } from '../../head/batch-prepare.js';
import { dropLoadingBatches, queueBatch, queueLargeBatch, type NewLargeBatch } from '../../head/queue.js';
import { LOADING_NAMESPACE, openStore, type Store } from '../../head/store.js';
import { tempDir } from '../helpers/cli.js';
import { shellBatch } from './harness.js';

const N = QUEUE_CHUNK * 2 + 500;

function large(name: string): NewLargeBatch {
  const rows: QueueRow[] = Array.from({ length: N }, (_, i) => ({ name: `j${i}`, spec: JSON.stringify({ job: { command: `echo ${i}` } }), cpus: 1, memory: null, gpus: 0, nodes: null, time: null }));
  rows[N - 2]!.after = ['j0']; // waits for a job of the first chunk
  rows[N - 1]!.finalize = true;
  const utf8 = new TextEncoder();
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < N; i += QUEUE_CHUNK) chunks.push(utf8.encode(JSON.stringify(rows.slice(i, i + QUEUE_CHUNK))));
  return { namespace: 'lab', name, owner: 'alice', admin: false, record: shellBatch('lab', name, []).record, chunks };
}

const count = (store: Store, sql: string, ...args: unknown[]) => (store.stmt(sql).get(...args) as { n: number }).n;

describe('queueLargeBatch', () => {
  it('queues every chunk, invisible until the last commits, with its dependencies', async () => {
    const { dir, cleanup } = tempDir();
    const store = openStore(dir);
    try {
      const queued = queueLargeBatch(store, large('big'));
      await new Promise((ok) => setImmediate(ok));
      await new Promise((ok) => setImmediate(ok));
      // halfway: the batch is under the loading namespace, not its own
      assert.equal(store.batchByName('lab', 'big'), undefined);
      assert.ok(store.batchByName(LOADING_NAMESPACE, 'lab/big'));
      const out = await queued;
      assert.ok(out.ok);
      assert.equal(store.batchByName('lab', 'big')?.id, out.batchId);
      assert.equal(count(store, 'SELECT COUNT(*) AS n FROM jobs WHERE batch_id = ?', out.batchId), N);
      assert.equal(count(store, 'SELECT COUNT(*) AS n FROM job_deps'), 1);
      assert.equal(count(store, 'SELECT COUNT(*) AS n FROM jobs WHERE blocked = 1'), 2);
      assert.equal(count(store, 'SELECT COUNT(*) AS n FROM batches WHERE namespace = ?', LOADING_NAMESPACE), 0);
    } finally {
      store.close();
      cleanup();
    }
  });

  it('leaves nothing when the name is taken before the last chunk, and drops a half-queued batch at start', async () => {
    const { dir, cleanup } = tempDir();
    const store = openStore(dir);
    try {
      const queued = queueLargeBatch(store, large('race'));
      await new Promise((ok) => setImmediate(ok));
      assert.ok(queueBatch(store, shellBatch('lab', 'race', [{ name: 'x' }])).ok === false, 'a second batch of the name while the first is queued');
      assert.ok((await queued).ok);

      const other = queueLargeBatch(store, large('other'));
      await new Promise((ok) => setImmediate(ok));
      await new Promise((ok) => setImmediate(ok));
      // as a head killed here would leave it: dropped whole when it starts again (here the
      // queueing goes on, and its next chunk fails: no batch to add to)
      assert.deepEqual(dropLoadingBatches(store).length, 1);
      await assert.rejects(other, /FOREIGN KEY/);
      assert.equal(store.batchByName('lab', 'other'), undefined);
      assert.equal(count(store, "SELECT COUNT(*) AS n FROM jobs j JOIN batches b ON b.id = j.batch_id WHERE b.name != 'race'"), 0);
    } finally {
      store.close();
      cleanup();
    }
  });
});
