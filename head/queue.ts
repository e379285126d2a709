// Queueing a validated batch: claim the namespace (first user to add owns it), refuse a
// batch name already used there, and insert the batch, its queues (shapes) and every job in
// one transaction — all of it or nothing. The caller awaits `store.synced()` before telling
// the user it is queued (the commit's fsync, shared with other commits: store.ts).
import { queueDependencies } from './transitions.js';
import { serializeJobRecord, type BatchRecord, type JobRecord, type Store } from './store.js';

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

export function queueBatch(store: Store, b: NewBatch): QueueOutcome {
  return store.tx((): QueueOutcome => {
    const now = store.now();
    const refusal = namespaceRefusal(store, b.namespace, b.owner, b.admin);
    if (refusal) return { ok: false, status: 403, error: refusal };
    if (store.batchByName(b.namespace, b.name)) {
      return { ok: false, status: 409, error: `batch ${b.name} already exists in namespace ${b.namespace}; choose another batch_name` };
    }
    store.stmt('INSERT OR IGNORE INTO namespaces (name, owner, created) VALUES (?, ?, ?)').run(b.namespace, b.owner, now);
    const batchId = Number(
      store
        // never the id of a removed batch (migration 5)
        .stmt(
          `INSERT INTO batches (id, namespace, name, spec, owner, created) VALUES (
             (SELECT MAX(n) + 1 FROM (SELECT COALESCE(MAX(id), 0) AS n FROM batches UNION ALL SELECT COALESCE(MAX(id), 0) FROM removed_batches)),
             ?, ?, ?, ?, ?)`,
        )
        .run(b.namespace, b.name, JSON.stringify(b.record), b.owner, now).lastInsertRowid,
    );
    const shapes = new Map<string, number>();
    const insertShape = store.stmt('INSERT INTO shapes (batch_id, cpus, memory, gpus, nodes) VALUES (?, ?, ?, ?, ?)');
    const insertRows = store.stmt(`INSERT INTO jobs (batch_id, name, spec, shape_id, state, time_limit) VALUES ${JOB_ROW}${`, ${JOB_ROW}`.repeat(ROWS_PER_INSERT - 1)}`);
    const insertRow = store.stmt(`INSERT INTO jobs (batch_id, name, spec, shape_id, state, time_limit) VALUES ${JOB_ROW}`);
    const values: unknown[] = new Array(ROWS_PER_INSERT * JOB_VALUES);
    let filled = 0;
    for (const j of b.jobs) {
      const r = j.record.job.resources;
      const nodes = j.record.nodes === null ? null : JSON.stringify([...j.record.nodes].sort());
      const key = `${r.cpus}|${r.memory}|${r.gpus}|${nodes}`;
      let shape = shapes.get(key);
      if (shape === undefined) {
        shape = Number(insertShape.run(batchId, r.cpus, r.memory, r.gpus, nodes).lastInsertRowid);
        shapes.set(key, shape);
      }
      values[filled++] = batchId;
      values[filled++] = j.name;
      values[filled++] = serializeJobRecord(j.record);
      values[filled++] = shape;
      values[filled++] = r.time;
      if (filled === values.length) {
        insertRows.run(values);
        filled = 0;
      }
    }
    for (let i = 0; i < filled; i += JOB_VALUES) insertRow.run(values.slice(i, i + JOB_VALUES));
    queueDependencies(store, batchId, b.jobs);
    return { ok: true, batchId };
  });
}

