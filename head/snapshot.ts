// Builds the scheduler's snapshot from the store: connected nodes with what their live
// attempts hold, and the head of each queue (batch × resource shape), at most as many jobs
// per queue as could be placed at all — so the cost does not grow with the queue's length.
import type { NodeResources } from '../shared/protocol/common.js';
import type { ClusterSnapshot, SnapshotNode, SnapshotQueue, SnapshotUser } from './scheduler.js';
import { LONGEST_FIRST } from './migrations.js';
import { pilotTimeLeft, pilotTimesLeft } from './alloc/time-left.js';
import { LOADING_NAMESPACE, parseBatchRecord, type BatchRecord, type NodeRow, type Store } from './store.js';

export type CachedBatch = BatchRecord & { namespace: string; name: string; owner: string };

/** Batch records are immutable once added: parsed once. */
export class BatchCache {
  private readonly records = new Map<number, CachedBatch>();

  constructor(private readonly store: Store) {}

  get(batchId: number): CachedBatch | undefined {
    let r = this.records.get(batchId);
    if (!r) {
      const row = this.store.batch(batchId);
      if (!row) return undefined;
      r = { ...parseBatchRecord(row), namespace: row.namespace, name: row.name, owner: row.owner };
      this.records.set(batchId, r);
    }
    return r;
  }

  /** Drops a removed batch (its id is never used again, but the memory is freed). */
  forget(batchId: number): void {
    this.records.delete(batchId);
  }
}

interface HeldRow {
  cpus: number | null;
  memory: number | null;
  jobs: number;
  waiting: number | null;
  gpus: string | null;
}

const HELD = `SUM(cpus) AS cpus, SUM(COALESCE(memory, 0)) AS memory, COUNT(*) AS jobs, SUM(state = 'assigned') AS waiting,
              json_group_array(json(gpus)) AS gpus`;

export function snapshotNode(store: Store, row: NodeRow, connected: boolean): SnapshotNode {
  const held = store.stmt<HeldRow>(`SELECT ${HELD} FROM attempts WHERE node = ? AND ended IS NULL`).get(row.name)!;
  return nodeOf(row, held, connected, pilotTimeLeft(store, row.name));
}

/**
 * The same for many nodes, with one query over the live attempts (grouped by node) instead of
 * one per node: with a thousand nodes the per-node queries were most of a scheduling pass.
 */
export function snapshotNodes(store: Store, rows: NodeRow[], connected: (name: string) => boolean): SnapshotNode[] {
  const held = new Map(
    store
      .stmt<HeldRow & { node: string }>(`SELECT node, ${HELD} FROM attempts WHERE ended IS NULL GROUP BY node`)
      .all()
      .map((h) => [h.node, h]),
  );
  const none: HeldRow = { cpus: null, memory: null, jobs: 0, waiting: null, gpus: null };
  const timeLeft = pilotTimesLeft(store);
  return rows.map((row) => nodeOf(row, held.get(row.name) ?? none, connected(row.name), timeLeft.get(row.name) ?? null));
}

function nodeOf(row: NodeRow, held: HeldRow, connected: boolean, left: number | null): SnapshotNode {
  const gpus = (JSON.parse(held.gpus ?? '[]') as number[][]).flat();
  return {
    name: row.name,
    capabilities: parsedOnce(row.capabilities) as string[],
    total: parsedOnce(row.resources) as NodeResources,
    maxJobs: row.max_jobs,
    lost: !connected || row.state === 'lost',
    paused: row.paused === 1,
    draining: row.draining === 1 || row.drained === 1,
    used: { cpus: held.cpus ?? 0, memory: held.memory ?? 0, gpus, jobs: held.jobs },
    waiting: held.waiting ?? 0,
    ...(left !== null ? { timeLeft: left } : {}),
  };
}

/**
 * A node row's JSON columns change only when the node says hello again: parsed once per text,
 * not once per node per pass. Callers never mutate what they get. Bounded: a head that has seen
 * more distinct texts than this starts over.
 */
function parsedOnce(text: string): unknown {
  let value = parsedTexts.get(text);
  if (value === undefined) {
    if (parsedTexts.size >= PARSED_TEXTS_MAX) parsedTexts.clear();
    value = JSON.parse(text) as unknown;
    parsedTexts.set(text, value);
  }
  return value;
}
const parsedTexts = new Map<string, unknown>();
const PARSED_TEXTS_MAX = 20_000;

/**
 * The node rows, read again only after a change to what a pass uses of them (a join, a loss, a
 * pause, a drain: not last_seen). A thousand rows read and parsed per pass were a tenth of the
 * head's time once passes were bounded. The changes are counted by temporary triggers of this
 * connection (every writer of nodes is the head's own), so a rolled-back change counts nothing.
 */
function nodeRows(store: Store): NodeRow[] {
  let cache = nodeRowCaches.get(store);
  if (!cache) {
    store.db.exec(`
      CREATE TEMP TABLE IF NOT EXISTS node_changes (n INTEGER NOT NULL);
      INSERT INTO node_changes SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM node_changes);
      CREATE TEMP TRIGGER IF NOT EXISTS node_inserted AFTER INSERT ON main.nodes BEGIN UPDATE node_changes SET n = n + 1; END;
      CREATE TEMP TRIGGER IF NOT EXISTS node_deleted AFTER DELETE ON main.nodes BEGIN UPDATE node_changes SET n = n + 1; END;
      CREATE TEMP TRIGGER IF NOT EXISTS node_changed AFTER UPDATE OF name, capabilities, resources, max_jobs, state, paused, draining, drained ON main.nodes
        BEGIN UPDATE node_changes SET n = n + 1; END;`);
  }
  const version = store.stmt<{ n: number }>('SELECT n FROM temp.node_changes').get()!.n;
  if (cache?.version !== version) {
    cache = { version, rows: store.nodes() };
    nodeRowCaches.set(store, cache);
  }
  return cache.rows;
}
const nodeRowCaches = new WeakMap<Store, { version: number; rows: NodeRow[] }>();

interface ShapeRow {
  id: number;
  batch_id: number;
  cpus: number;
  memory: number | null;
  gpus: number;
  nodes: string | null;
}

/**
 * `ahead`: jobs a node may hold waiting beyond those it runs (scheduler/ahead.ts); `limit`: most
 * placements the pass will make (no queue need give more jobs than that).
 */
export function buildSnapshot(store: Store, batches: BatchCache, connected: ReadonlySet<string>, ahead = 0, limit = Infinity): ClusterSnapshot {
  const nodes = snapshotNodes(store, nodeRows(store).filter((n) => connected.has(n.name)), () => true);
  // each placement takes at least one cpu, one slot or one place ahead, so no queue can give more than this
  let room = 0;
  for (const n of nodes) {
    if (n.lost || n.paused || n.draining) continue;
    room += n.maxJobs !== null ? Math.max(0, n.maxJobs - n.used.jobs) : Math.max(0, n.total.cpus - n.used.cpus);
    room += Math.max(0, ahead - (n.waiting ?? 0));
  }
  if (room === 0) return { nodes, queues: [], users: [], ahead };
  room = Math.min(room, limit);

  const shapes = store
    .stmt<ShapeRow>(
      `SELECT s.* FROM shapes s WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.state = 'queued' AND j.blocked = 0 AND j.batch_id = s.batch_id AND j.shape_id = s.id)
         AND s.batch_id NOT IN (SELECT id FROM batches WHERE namespace = '${LOADING_NAMESPACE}')`,
    )
    .all();
  const inSubmissionOrder = store.stmt<QueuedRow>(
    `SELECT id, time_limit FROM jobs WHERE state = 'queued' AND blocked = 0 AND batch_id = ? AND shape_id = ? ORDER BY id LIMIT ?`,
  );
  const longestFirst = store.stmt<QueuedRow>(
    `SELECT id, time_limit FROM jobs WHERE state = 'queued' AND blocked = 0 AND batch_id = ? AND shape_id = ? ORDER BY ${LONGEST_FIRST} DESC, id LIMIT ?`,
  );
  const failedOn = store.stmt<{ node: string }>('SELECT node FROM build_failures WHERE batch_id = ?');
  const queues: SnapshotQueue[] = [];
  for (const s of shapes) {
    const batch = batches.get(s.batch_id);
    if (!batch) continue;
    const sort = batch.meta.sort ?? 'none';
    const sorted = sort !== 'none';
    const jobs = (sorted ? longestFirst : inSubmissionOrder).all(s.batch_id, s.id, room);
    queues.push({
      batchId: s.batch_id,
      owner: batch.owner,
      priority: batch.meta.priority ?? 0,
      sort,
      capabilities: batch.meta.capabilities,
      demand: { cpus: s.cpus, memory: s.memory, gpus: s.gpus },
      nodes: s.nodes === null ? null : (JSON.parse(s.nodes) as string[]),
      buildFailedOn: failedOn.all(s.batch_id).map((r) => r.node),
      jobIds: jobs.map((j) => j.id),
      times: jobs.map((j) => j.time_limit),
    });
  }
  // fair share orders the queues of different owners; with one owner it decides nothing
  const owners = new Set(queues.map((q) => q.owner));
  return { nodes, queues, users: owners.size > 1 ? fairShare(store, owners) : [], ahead, ...(limit < Infinity ? { limit } : {}) };
}

interface QueuedRow {
  id: number;
  time_limit: number | null;
}

/**
 * Fair-share accounts of the users with queued jobs: their running jobs (from the index of
 * open attempts: as many rows as jobs hold nodes, not the history) and when they were last
 * served.
 */
export function fairShare(store: Store, owners: ReadonlySet<string>): SnapshotUser[] {
  if (owners.size === 0) return [];
  const running = new Map(
    store
      .stmt<{ owner: string; n: number }>(
        `SELECT b.owner AS owner, COUNT(*) AS n FROM attempts a INDEXED BY attempts_open
         JOIN jobs j ON j.id = a.job_id JOIN batches b ON b.id = j.batch_id
         WHERE a.ended IS NULL GROUP BY b.owner`,
      )
      .all()
      .map((r) => [r.owner, r.n]),
  );
  const served = store.stmt<{ last_attempt: number }>('SELECT last_attempt FROM fair_share WHERE owner = ?');
  return [...owners].map((name) => ({ name, running: running.get(name) ?? 0, lastServed: served.get(name)?.last_attempt ?? 0 }));
}
