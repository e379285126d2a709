// Queueing a validated batch: claim the namespace (first user to add owns it), refuse a
// batch name already used there, and insert the batch, its queues (shapes) and every job in
// one durable transaction — all of it or nothing.
import type { BatchRecord, JobRecord, Store } from './store.js';

export interface NewBatch {
  namespace: string;
  name: string;
  owner: string;
  /** admins may add into any namespace */
  admin: boolean;
  record: BatchRecord;
  jobs: { name: string; record: JobRecord }[];
}

export type QueueOutcome = { ok: true; batchId: number } | { ok: false; status: 403 | 409; error: string };

/** Who may add into a namespace: null when this user may, else the refusal. */
export function namespaceRefusal(store: Store, namespace: string, user: string, admin: boolean): string | null {
  const owner = store.namespaceOwner(namespace);
  if (owner === undefined || owner === user || admin) return null;
  return `namespace ${namespace} belongs to ${owner}`;
}

export function queueBatch(store: Store, b: NewBatch): QueueOutcome {
  return store.durably((): QueueOutcome => {
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
    const insertJob = store.stmt(`INSERT INTO jobs (batch_id, name, spec, shape_id, state, time_limit) VALUES (?, ?, ?, ?, 'queued', ?)`);
    for (const j of b.jobs) {
      const r = j.record.job.resources;
      const nodes = j.record.nodes === null ? null : JSON.stringify([...j.record.nodes].sort());
      const key = `${r.cpus}|${r.memory}|${r.gpus}|${nodes}`;
      let shape = shapes.get(key);
      if (shape === undefined) {
        shape = Number(insertShape.run(batchId, r.cpus, r.memory, r.gpus, nodes).lastInsertRowid);
        shapes.set(key, shape);
      }
      insertJob.run(batchId, j.name, JSON.stringify(j.record), shape, r.time);
    }
    return { ok: true, batchId };
  });
}
