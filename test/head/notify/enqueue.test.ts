import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { noteBatchChange } from '../../../head/notify/enqueue.js';
import { buildExcerpt } from '../../../head/notify/summary.js';
import { endJob, outbox, requeue, seedBatch, testStore } from './support.js';

const T0 = Date.parse('2025-03-07T17:00:00Z');

describe('queueing notifications', () => {
  it('queues one end message, rendered, when the last job of the batch ends', () => {
    let now = T0;
    const t = testStore(() => now);
    try {
      const id = seedBatch(t.store, { jobs: 3, created: T0, file: 'sweep.yaml' });
      endJob(t.store, id, 'job0', 'done');
      assert.deepEqual(noteBatchChange(t.store, id), []);
      endJob(t.store, id, 'job1', 'failed', { exitCode: 3, error: 'exited with code 3', ended: T0 + 60_000 });
      assert.deepEqual(noteBatchChange(t.store, id), []);
      now = T0 + 3_725_000;
      endJob(t.store, id, 'job2', 'cancelled', { exitCode: null });
      const queued = noteBatchChange(t.store, id);
      assert.deepEqual(queued.map((q) => [q.kind, q.recipient]), [['end', '@you:test']]);
      assert.deepEqual(noteBatchChange(t.store, id), [], 'told once');
      const [row, ...rest] = outbox(t.store);
      assert.equal(rest.length, 0);
      assert.equal(row!.state, 'pending');
      assert.equal(row!.next_at, now);
      assert.equal(
        row!.body,
        'Batch sweep (namespace study) ended after 1h 02m: 1 done, 1 failed, 1 cancelled.\nFailures:\n- job1: exit code 3\nFetch the results: distribute pull sweep.yaml',
      );
    } finally {
      t.cleanup();
    }
  });

  it('queues the first failure once while the batch runs, then the end', () => {
    const t = testStore();
    try {
      const id = seedBatch(t.store, { jobs: 4, notify: ['end', 'first_failure'] });
      endJob(t.store, id, 'job0', 'done');
      assert.deepEqual(noteBatchChange(t.store, id), []);
      endJob(t.store, id, 'job1', 'failed', { exitCode: 2 });
      assert.deepEqual(noteBatchChange(t.store, id).map((q) => q.kind), ['first_failure']);
      endJob(t.store, id, 'job2', 'failed', { exitCode: 2 });
      assert.deepEqual(noteBatchChange(t.store, id), []);
      endJob(t.store, id, 'job3', 'done');
      assert.deepEqual(noteBatchChange(t.store, id).map((q) => q.kind), ['end']);
      assert.match(outbox(t.store)[0]!.body, /^Batch sweep \(namespace study\): a job failed after .*\n- job1: exit code 2\nSo far 1 done, 1 failed, 0 cancelled, 2 still to run\./);
    } finally {
      t.cleanup();
    }
  });

  it('sends only the end when the first failure is also the end', () => {
    const t = testStore();
    try {
      const id = seedBatch(t.store, { jobs: 1, notify: ['end', 'first_failure'] });
      endJob(t.store, id, 'job0', 'failed');
      assert.deepEqual(noteBatchChange(t.store, id).map((q) => q.kind), ['end']);
    } finally {
      t.cleanup();
    }
  });

  it('follows meta.notify and meta.matrix', () => {
    const t = testStore();
    try {
      const failureOnly = seedBatch(t.store, { name: 'a', jobs: 2, notify: ['first_failure'] });
      endJob(t.store, failureOnly, 'job0', 'done');
      endJob(t.store, failureOnly, 'job1', 'done');
      assert.deepEqual(noteBatchChange(t.store, failureOnly), [], 'no end message unless asked');
      const nobody = seedBatch(t.store, { name: 'b', jobs: 1, matrix: null });
      endJob(t.store, nobody, 'job0', 'failed');
      assert.deepEqual(noteBatchChange(t.store, nobody), []);
      assert.equal(outbox(t.store).length, 0);
    } finally {
      t.cleanup();
    }
  });

  it('tells a batch reopened by a retry again when it ends again', () => {
    const t = testStore();
    try {
      const id = seedBatch(t.store, { jobs: 2, notify: ['end', 'first_failure'] });
      endJob(t.store, id, 'job0', 'done');
      endJob(t.store, id, 'job1', 'failed');
      assert.deepEqual(noteBatchChange(t.store, id).map((q) => q.kind), ['end']);
      requeue(t.store, id, 'job1');
      assert.deepEqual(noteBatchChange(t.store, id), []);
      endJob(t.store, id, 'job1', 'done');
      assert.deepEqual(noteBatchChange(t.store, id).map((q) => q.kind), ['end']);
      assert.match(outbox(t.store)[1]!.body, /2 done, 0 failed, 0 cancelled/);
    } finally {
      t.cleanup();
    }
  });

  it('tells a build that failed on every node as such', () => {
    const t = testStore();
    try {
      const id = seedBatch(t.store, { jobs: 2 });
      t.store.stmt('INSERT INTO build_failures (batch_id, node, log, at) VALUES (?, ?, ?, 0)').run(id, 'ws1', 'build failed: exit code 2\nstderr:\nerror: no solver.f90\n\nstdout:\ncompiling\n');
      t.store.stmt(`UPDATE jobs SET state = 'failed', error = 'its build failed on every capable node (ws1)' WHERE batch_id = ?`).run(id);
      assert.deepEqual(noteBatchChange(t.store, id).map((q) => q.kind), ['build_failed']);
      assert.match(outbox(t.store)[0]!.body, /its build failed on every capable node\.\n- ws1: exit code 2; error: no solver\.f90\n0 done, 2 failed, 0 cancelled\.$/);
    } finally {
      t.cleanup();
    }
  });

  it('reduces a node\'s build report to its status and last error line', () => {
    assert.equal(buildExcerpt('build failed: killed by SIGKILL\nstdout:\nstep 1\n'), 'killed by SIGKILL');
    assert.equal(buildExcerpt('build failed: exit code 1\nstderr:\n…tail\nld: cannot find -lblas\n'), 'exit code 1; ld: cannot find -lblas');
    assert.equal(buildExcerpt('make: *** [all] Error 1\n\n'), 'make: *** [all] Error 1');
    assert.equal(buildExcerpt(''), '(empty log)');
    assert.equal(buildExcerpt(`build failed: exit code 1\nstderr:\n${'x'.repeat(500)}`).length, 200);
  });

  it('queues in the caller\'s transaction: a rolled-back end leaves no message', () => {
    const t = testStore();
    try {
      const id = seedBatch(t.store, { jobs: 1 });
      assert.throws(() =>
        t.store.tx(() => {
          endJob(t.store, id, 'job0', 'done');
          assert.equal(noteBatchChange(t.store, id).length, 1);
          throw new Error('crash before commit');
        }),
      );
      assert.equal(outbox(t.store).length, 0);
      assert.equal(t.store.jobByName(id, 'job0')!.state, 'queued');
      endJob(t.store, id, 'job0', 'done');
      assert.equal(noteBatchChange(t.store, id).length, 1, 'the end is still told once it really happens');
    } finally {
      t.cleanup();
    }
  });

  it('stays cheap in the transaction of every job end of a large batch', () => {
    const t = testStore();
    try {
      const id = seedBatch(t.store, { jobs: 20_000 });
      t.store.stmt(`UPDATE jobs SET state = 'done' WHERE batch_id = ? AND name != 'job19999'`).run(id);
      const t0 = performance.now();
      for (let i = 0; i < 500; i++) noteBatchChange(t.store, id);
      const ms = performance.now() - t0;
      // index seeks: ~50 µs a call here; a scan of the batch's jobs would be ~100× that
      assert.ok(ms < 1000, `500 calls took ${ms.toFixed(0)} ms`);
    } finally {
      t.cleanup();
    }
  });
});
