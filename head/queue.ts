// Queueing a validated batch: claim the namespace (first user to add owns it), refuse a
// batch name already used there, and insert the batch, its queues (shapes) and every job —
// all of it or nothing. The caller awaits `store.synced()` before telling the user it is
// queued (the commit's fsync, shared with other commits: store.ts).
//
// A large batch does not fit one transaction: inserting 60,000 jobs takes the event loop a
// quarter of a second or more. `queueLargeBatch` inserts it in chunks, one transaction per
// turn of the loop, under the reserved namespace LOADING_NAMESPACE (no user can name it, no
// one sees it in status, the scheduler skips it); the last transaction moves the batch to
// its namespace and name. A head that stops before that drops such a batch when it starts
// again (`dropLoadingBatches`), so after a crash a batch is there whole or not at all.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { QueueRow } from './batch-prepare.js';
import { deleteBatchRows } from './remove.js';
import { queueDependencies } from './transitions.js';
import { LOADING_NAMESPACE, serializeJobRecord, type BatchRecord, type JobRecord, type Store } from './store.js';


export interface NewBatch {
  namespace: string;
  name: string;
  owner: string;
  /** admins may add into any namespace */
  admin: boolean;
  record: BatchRecord;
  /** `after`: names of jobs of the batch this one waits for; `finalize`: the finalize step (waits for every other job) */
  jobs: { name: string; record: JobRecord; after?: string[]; finalize?: boolean }[];
}

// Jobs go in ROWS_PER_INSERT rows per INSERT statement: one call into SQLite per row was a
// third of the time of queueing 100,000 jobs (the rows keep their order, so their ids).
const JOB_ROW = `(?, ?, ?, ?, 'queued', ?)`;
const JOB_VALUES = 5;
const ROWS_PER_INSERT = 200;

export type QueueOutcome = { ok: true; batchId: number } | { ok: false; status: 403 | 409; error: string };

/** Who may add into a namespace: null when this user may, else the refusal. */
export function namespaceRefusal(store: Store, namespace: string, user: string, admin: boolean): string | null {
  const owner = store.namespaceOwner(namespace);
  if (owner === undefined || owner === user || admin) return null;
  return `namespace ${namespace} belongs to ${owner}`;
}

/** Inserts jobs of one batch, ROWS_PER_INSERT rows per statement, creating its shapes on the way. */
class JobInserter {
  private readonly shapes = new Map<string, number>();
  private readonly insertShape;
  private readonly insertRows;
  private readonly insertRow;
  private readonly values: unknown[] = new Array(ROWS_PER_INSERT * JOB_VALUES);

  constructor(
    private readonly store: Store,
    private readonly batchId: number,
  ) {
    this.insertShape = store.stmt('INSERT INTO shapes (batch_id, cpus, memory, gpus, nodes) VALUES (?, ?, ?, ?, ?)');
    this.insertRows = store.stmt(`INSERT INTO jobs (batch_id, name, spec, shape_id, state, time_limit) VALUES ${JOB_ROW}${`, ${JOB_ROW}`.repeat(ROWS_PER_INSERT - 1)}`);
    this.insertRow = store.stmt(`INSERT INTO jobs (batch_id, name, spec, shape_id, state, time_limit) VALUES ${JOB_ROW}`);
  }

  /** Inside the caller's transaction. */
  insert(rows: readonly QueueRow[]): void {
    const values = this.values;
    let filled = 0;
    for (const j of rows) {
      const key = `${j.cpus}|${j.memory}|${j.gpus}|${j.nodes}`;
      let shape = this.shapes.get(key);
      if (shape === undefined) {
        shape = Number(this.insertShape.run(this.batchId, j.cpus, j.memory, j.gpus, j.nodes).lastInsertRowid);
        this.shapes.set(key, shape);
      }
      values[filled++] = this.batchId;
      values[filled++] = j.name;
      values[filled++] = j.spec;
      values[filled++] = shape;
      values[filled++] = j.time;
      if (filled === values.length) {
        this.insertRows.run(values);
        filled = 0;
      }
    }
    for (let i = 0; i < filled; i += JOB_VALUES) this.insertRow.run(values.slice(i, i + JOB_VALUES));
  }
}

/** The row queueBatch inserts for a job given as a record. */
export function queueRow(j: NewBatch['jobs'][number]): QueueRow {
  const r = j.record.job.resources;
  const row: QueueRow = { name: j.name, spec: serializeJobRecord(j.record), cpus: r.cpus, memory: r.memory, gpus: r.gpus, nodes: j.record.nodes === null ? null : JSON.stringify([...j.record.nodes].sort()), time: r.time };
  if (j.after?.length) row.after = j.after;
  if (j.finalize) row.finalize = true;
  return row;
}

/** Why a batch may not be queued under this name now, or null. */
function refusalOf(store: Store, b: Pick<NewBatch, 'namespace' | 'name' | 'owner' | 'admin'>): QueueOutcome | null {
  const refusal = namespaceRefusal(store, b.namespace, b.owner, b.admin);
  if (refusal) return { ok: false, status: 403, error: refusal };
  if (store.batchByName(b.namespace, b.name) || store.batchByName(LOADING_NAMESPACE, loadingName(b))) {
    return { ok: false, status: 409, error: `batch ${b.name} already exists in namespace ${b.namespace}; choose another batch_name` };
  }
  return null;
}

const loadingName = (b: Pick<NewBatch, 'namespace' | 'name'>) => `${b.namespace}/${b.name}`;

/** The batch row; never the id of a removed batch (migration 5). */
function insertBatchRow(store: Store, namespace: string, name: string, b: Pick<NewBatch, 'record' | 'owner'>): number {
  return Number(
    store
      .stmt(
        `INSERT INTO batches (id, namespace, name, spec, owner, created) VALUES (
           (SELECT MAX(n) + 1 FROM (SELECT COALESCE(MAX(id), 0) AS n FROM batches UNION ALL SELECT COALESCE(MAX(id), 0) FROM removed_batches)),
           ?, ?, ?, ?, ?)`,
      )
      .run(namespace, name, JSON.stringify(b.record), b.owner, store.now()).lastInsertRowid,
  );
}

const claimNamespace = (store: Store, namespace: string, owner: string) =>
  store.stmt('INSERT OR IGNORE INTO namespaces (name, owner, created) VALUES (?, ?, ?)').run(namespace, owner, store.now());

/** The whole batch in one transaction. */
export function queueBatch(store: Store, b: NewBatch): QueueOutcome {
  return store.tx((): QueueOutcome => {
    const refused = refusalOf(store, b);
    if (refused) return refused;
    claimNamespace(store, b.namespace, b.owner);
    const batchId = insertBatchRow(store, b.namespace, b.name, b);
    new JobInserter(store, batchId).insert(b.jobs.map(queueRow));
    queueDependencies(store, batchId, b.jobs);
    return { ok: true, batchId };
  });
}

export interface NewLargeBatch extends Omit<NewBatch, 'jobs'> {
  /** UTF-8 JSON of QueueRow[] per chunk, in the batch's order (head/batch-prepare.ts) */
  chunks: readonly Uint8Array[];
}

/**
 * The batch in chunks, one transaction per turn of the event loop, invisible until the last
 * one commits (see the header). A batch of one chunk goes in one transaction, as queueBatch.
 */
export async function queueLargeBatch(store: Store, b: NewLargeBatch): Promise<QueueOutcome> {
  if (b.chunks.length <= 1) {
    const rows = b.chunks.length ? rowsOf(b.chunks[0]!) : [];
    return store.tx((): QueueOutcome => {
      const refused = refusalOf(store, b);
      if (refused) return refused;
      claimNamespace(store, b.namespace, b.owner);
      const batchId = insertBatchRow(store, b.namespace, b.name, b);
      new JobInserter(store, batchId).insert(rows);
      queueDependencies(store, batchId, rows);
      return { ok: true, batchId };
    });
  }
  const started = store.tx((): QueueOutcome => {
    const refused = refusalOf(store, b);
    if (refused) return refused;
    claimNamespace(store, LOADING_NAMESPACE, '');
    return { ok: true, batchId: insertBatchRow(store, LOADING_NAMESPACE, loadingName(b), b) };
  });
  if (!started.ok) return started;
  const { batchId } = started;
  try {
    const inserter = new JobInserter(store, batchId);
    const waiting: QueueRow[] = [];
    for (const chunk of b.chunks) {
      await nextTurn();
      const rows = rowsOf(chunk);
      store.tx(() => inserter.insert(rows));
      for (const r of rows) if (r.after || r.finalize) waiting.push(r);
    }
    await nextTurn();
    const done = store.tx((): QueueOutcome => {
      if (!store.batch(batchId)) return { ok: false, status: 409, error: `batch ${b.name} was removed while it was being queued` };
      // the namespace may have been claimed, or the name taken, meanwhile
      const refusal = namespaceRefusal(store, b.namespace, b.owner, b.admin);
      if (refusal) return { ok: false, status: 403, error: refusal };
      if (store.batchByName(b.namespace, b.name)) return { ok: false, status: 409, error: `batch ${b.name} already exists in namespace ${b.namespace}; choose another batch_name` };
      claimNamespace(store, b.namespace, b.owner);
      store.stmt('UPDATE batches SET namespace = ?, name = ? WHERE id = ?').run(b.namespace, b.name, batchId);
      queueDependencies(store, batchId, waiting);
      return { ok: true, batchId };
    });
    if (!done.ok) store.tx(() => deleteBatchRows(store, batchId));
    return done;
  } catch (err) {
    store.tx(() => deleteBatchRows(store, batchId));
    throw err;
  }
}

const rowsOf = (chunk: Uint8Array) => JSON.parse(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8')) as QueueRow[];

/** Batches a stopped head left half-queued (see the header): removed whole. At start, before anything else reads the queue. */
export function dropLoadingBatches(store: Store): number[] {
  const ids = store.stmt<{ id: number }>('SELECT id FROM batches WHERE namespace = ?').all(LOADING_NAMESPACE).map((r) => r.id);
  if (ids.length) store.tx(() => ids.forEach((id) => deleteBatchRows(store, id)));
  store.stmt('DELETE FROM namespaces WHERE name = ?').run(LOADING_NAMESPACE);
  return ids;
}
