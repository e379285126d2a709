// What the scheduler is given, read from a real store: queues in the batch's order (longest
// first with a `sort`), fair-share accounts, an admin's drain; and the store changes around
// scheduling (migration 4, build failures per queue, retry).
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { MIGRATIONS } from '../../head/migrations.js';
import { BatchCache, buildSnapshot } from '../../head/snapshot.js';
import { place } from '../../head/scheduler.js';
import { queueBatch, type NewBatch } from '../../head/queue.js';
import { DB_FILE, migrate, openStore, type Store } from '../../head/store.js';
import { applyPlacements, markFinished, recordBuildFailure, registerNode, retryJobs, setNodeDrained, setNodeDraining } from '../../head/transitions.js';
import type { SortOrder } from '../../shared/spec/types.js';
import { tempDir } from '../helpers/cli.js';
import { hello, shellBatch } from './harness.js';

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function freshStore(): Store {
  const { dir, cleanup } = tempDir('distribute-snapshot-');
  const store = openStore(dir);
  cleanups.push(() => (store.close(), cleanup()));
  return store;
}

function timedBatch(name: string, times: (number | null)[], o: { owner?: string; sort?: SortOrder; priority?: number } = {}): NewBatch {
  const b = shellBatch('lab', name, times.map((_, i) => ({ name: `${name}${i}` })), { owner: o.owner ?? 'alice' });
  b.namespace = o.owner ?? 'lab';
  b.record.meta = { ...b.record.meta, namespace: b.namespace, sort: o.sort ?? 'none', priority: o.priority ?? 0 };
  b.jobs.forEach((j, i) => (j.record.job.resources.time = times[i]!));
  return b;
}

function idsOf(store: Store, names: string[]): number[] {
  return names.map((n) => store.stmt<{ id: number }>('SELECT id FROM jobs WHERE name = ?').get(n)!.id);
}

function finish(store: Store, node: string, attempt: number): void {
  markFinished(store, node, { type: 'finished', attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
}

describe('snapshot', () => {
  it('gives a sorted batch\'s queue longest first (no limit first of all), an unsorted one in submission order', () => {
    const store = freshStore();
    registerNode(store, hello('n'), 3);
    queueBatch(store, timedBatch('s', [60, null, 3600, 600], { sort: 'gpus_runtime_memory', priority: 2 }));
    queueBatch(store, timedBatch('u', [60, null, 3600], { owner: 'bob' }));
    const snap = buildSnapshot(store, new BatchCache(store), new Set(['n']));
    const sorted = snap.queues.find((q) => q.sort === 'gpus_runtime_memory')!;
    assert.deepEqual(sorted.jobIds, idsOf(store, ['s1', 's2', 's3', 's0']));
    assert.deepEqual(sorted.times, [null, 3600, 600, 60]);
    assert.equal(sorted.priority, 2);
    assert.equal(sorted.owner, 'alice');
    const plain = snap.queues.find((q) => q.sort === 'none')!;
    assert.deepEqual(plain.jobIds, idsOf(store, ['u0', 'u1', 'u2']));
    assert.equal(plain.owner, 'bob');
  });

  it('counts each owner\'s running jobs and remembers whom it served last, across passes', () => {
    const store = freshStore();
    registerNode(store, hello('n', { resources: { cpus: 3, memory: 0, gpus: 0 } }), 3);
    const batches = new BatchCache(store);
    const connected = new Set(['n']);
    queueBatch(store, timedBatch('a', [null, null, null, null, null]));
    const first = applyPlacements(store, place(buildSnapshot(store, batches, connected)));
    assert.equal(first.length, 3);
    queueBatch(store, timedBatch('b', [null, null], { owner: 'bob' }));
    assert.deepEqual(buildSnapshot(store, batches, connected).queues, [], 'a full cluster: nothing to read');

    // alice's job ends: bob, with fewer running, takes the slot; the next time they tie at one
    // running each, and the one served less recently goes first — alice, then bob
    finish(store, 'n', first[0]!.attempt);
    const snap = buildSnapshot(store, batches, connected);
    const users = new Map(snap.users!.map((u) => [u.name, u]));
    assert.deepEqual(users.get('alice'), { name: 'alice', running: 2, lastServed: Math.max(...first.map((a) => a.attempt)) });
    assert.deepEqual(users.get('bob'), { name: 'bob', running: 0, lastServed: 0 });
    const [b0] = applyPlacements(store, place(snap));
    assert.equal(store.job(b0!.jobId)!.name, 'b0');
    finish(store, 'n', first[1]!.attempt);
    const [a3] = applyPlacements(store, place(buildSnapshot(store, batches, connected)));
    assert.equal(store.job(a3!.jobId)!.name, 'a3');
    finish(store, 'n', first[2]!.attempt);
    const [b1] = applyPlacements(store, place(buildSnapshot(store, batches, connected)));
    assert.equal(store.job(b1!.jobId)!.name, 'b1');
  });

  it('keeps an admin\'s drain across the node\'s reconnects, unlike the node\'s own draining', () => {
    const store = freshStore();
    registerNode(store, hello('n'), 3);
    queueBatch(store, timedBatch('a', [null]));
    const batches = new BatchCache(store);
    const snap = () => buildSnapshot(store, batches, new Set(['n']));
    setNodeDraining(store, 'n');
    assert.equal(snap().nodes[0]!.draining, true);
    registerNode(store, hello('n'), 3);
    assert.equal(snap().nodes[0]!.draining, false, 'a node that stopped and came back takes jobs again');
    setNodeDrained(store, 'n', true);
    registerNode(store, hello('n'), 3);
    assert.equal(snap().nodes[0]!.draining, true, 'drained by an admin until undrained');
    assert.deepEqual(place(snap()), []);
    setNodeDrained(store, 'n', false);
    assert.equal(place(snap()).length, 1);
  });
});

describe('build failures and scheduling', () => {
  it('fails only the queued jobs whose every capable node failed the build, and retry lets them build again', () => {
    const store = freshStore();
    for (const n of ['a', 'b']) registerNode(store, hello(n), 3);
    const { batchId } = queueBatch(store, shellBatch('lab', 'mixed', [{ name: 'pinned', nodes: ['a'] }, { name: 'free' }])) as { batchId: number };
    const batches = new BatchCache(store);
    const capable = (shape: { nodes: string[] | null }) => shape.nodes ?? ['a', 'b'];
    const placed = applyPlacements(store, place(buildSnapshot(store, batches, new Set(['a', 'b']))));
    const onA = placed.find((p) => p.node === 'a')!;
    const outcome = recordBuildFailure(store, 'a', batchId, onA.attempt, 'make: Error 1', capable);
    const state = (name: string) => store.jobByName(batchId, name)!;
    assert.equal(outcome.failedJobs, 1);
    assert.equal(state('pinned').state, 'failed');
    assert.equal(state('pinned').error, 'its build failed on every capable node (a)');
    assert.notEqual(state('free').state, 'failed', 'b may still build it');

    assert.equal(retryJobs(store, batchId), 1);
    assert.equal(store.stmt('SELECT COUNT(*) AS n FROM build_failures WHERE batch_id = ?').pluck().get(batchId), 0);
    const again = place(buildSnapshot(store, batches, new Set(['a', 'b'])));
    assert.deepEqual(again.map((p) => [store.job(p.jobId)!.name, p.node]), [['pinned', 'a']]);
  });
});

describe('migration 4', () => {
  it('fills in the time limits of jobs and whom each user was last served from an older database', () => {
    const { dir, cleanup } = tempDir('distribute-migrate-');
    cleanups.push(cleanup);
    const db = new Database(join(dir, DB_FILE));
    migrate(db, MIGRATIONS.filter((m) => m.version < 4));
    const old = new Store3(db);
    const batch = old.batch('alice');
    const j1 = old.job(batch, 'x', 7200);
    const j2 = old.job(batch, 'y', null);
    old.attempt(j1);
    const last = old.attempt(j2);
    db.close();

    const store = openStore(dir);
    cleanups.push(() => store.close());
    assert.deepEqual(store.db.prepare('SELECT name, time_limit FROM jobs ORDER BY id').all(), [{ name: 'x', time_limit: 7200 }, { name: 'y', time_limit: null }]);
    assert.deepEqual(store.db.prepare('SELECT owner, last_attempt FROM fair_share').all(), [{ owner: 'alice', last_attempt: last }]);
  });
});

/** Rows as a version-3 head wrote them. */
class Store3 {
  private shape = 0;

  constructor(private readonly db: Database.Database) {}

  batch(owner: string): number {
    this.db.prepare('INSERT INTO namespaces (name, owner, created) VALUES (?, ?, 0)').run(owner, owner);
    const id = Number(this.db.prepare(`INSERT INTO batches (namespace, name, spec, owner, created) VALUES (?, 'b', '{}', ?, 0)`).run(owner, owner).lastInsertRowid);
    this.shape = Number(this.db.prepare('INSERT INTO shapes (batch_id, cpus, memory, gpus, nodes) VALUES (?, 1, NULL, 0, NULL)').run(id).lastInsertRowid);
    return id;
  }

  job(batchId: number, name: string, time: number | null): number {
    const spec = JSON.stringify({ job: { name, resources: { cpus: 1, memory: null, gpus: 0, time } }, nodes: null, retries: 0 });
    return Number(this.db.prepare(`INSERT INTO jobs (batch_id, name, spec, shape_id, state) VALUES (?, ?, ?, ?, 'queued')`).run(batchId, name, spec, this.shape).lastInsertRowid);
  }

  attempt(jobId: number): number {
    return Number(this.db.prepare(`INSERT INTO attempts (job_id, number, node, state, cpus, gpus, created) VALUES (?, 1, 'n', 'assigned', 1, '[]', 0)`).run(jobId).lastInsertRowid);
  }
}
