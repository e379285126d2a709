// Builds the scheduler's snapshot from the store: connected nodes with what their live
// attempts hold, and the head of each queue (batch × resource shape), at most as many jobs
// per queue as could be placed at all — so the cost does not grow with the queue's length.
import type { NodeResources } from '../shared/protocol/common.js';
import type { ClusterSnapshot, SnapshotNode, SnapshotQueue } from './scheduler.js';
import { parseBatchRecord, type BatchRecord, type NodeRow, type Store } from './store.js';

/** Batch records are immutable once added: parsed once. */
export class BatchCache {
  private readonly records = new Map<number, BatchRecord & { namespace: string; name: string }>();

  constructor(private readonly store: Store) {}

  get(batchId: number): (BatchRecord & { namespace: string; name: string }) | undefined {
    let r = this.records.get(batchId);
    if (!r) {
      const row = this.store.batch(batchId);
      if (!row) return undefined;
      r = { ...parseBatchRecord(row), namespace: row.namespace, name: row.name };
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
  gpus: string | null;
}

export function snapshotNode(store: Store, row: NodeRow, connected: boolean): SnapshotNode {
  const held = store
    .stmt<HeldRow>(
      `SELECT SUM(cpus) AS cpus, SUM(COALESCE(memory, 0)) AS memory, COUNT(*) AS jobs, json_group_array(json(gpus)) AS gpus
       FROM attempts WHERE node = ? AND ended IS NULL`,
    )
    .get(row.name)!;
  const gpus = (JSON.parse(held.gpus ?? '[]') as number[][]).flat();
  return {
    name: row.name,
    capabilities: JSON.parse(row.capabilities) as string[],
    total: JSON.parse(row.resources) as NodeResources,
    maxJobs: row.max_jobs,
    lost: !connected || row.state === 'lost',
    paused: row.paused === 1,
    draining: row.draining === 1,
    used: { cpus: held.cpus ?? 0, memory: held.memory ?? 0, gpus, jobs: held.jobs },
  };
}

interface ShapeRow {
  id: number;
  batch_id: number;
  cpus: number;
  memory: number | null;
  gpus: number;
  nodes: string | null;
}

export function buildSnapshot(store: Store, batches: BatchCache, connected: ReadonlySet<string>): ClusterSnapshot {
  const nodes = store.nodes().filter((n) => connected.has(n.name)).map((n) => snapshotNode(store, n, true));
  // each placement takes at least one cpu or one slot, so no queue can give more than this
  let room = 0;
  for (const n of nodes) {
    if (n.lost || n.paused || n.draining) continue;
    room += n.maxJobs !== null ? Math.max(0, n.maxJobs - n.used.jobs) : Math.max(0, n.total.cpus - n.used.cpus);
  }
  if (room === 0) return { nodes, queues: [] };

  const shapes = store
    .stmt<ShapeRow>(
      `SELECT s.* FROM shapes s WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.state = 'queued' AND j.batch_id = s.batch_id AND j.shape_id = s.id)`,
    )
    .all();
  const firstQueued = store.stmt<{ id: number }>(
    `SELECT id FROM jobs WHERE state = 'queued' AND batch_id = ? AND shape_id = ? ORDER BY id LIMIT ?`,
  );
  const failedOn = store.stmt<{ node: string }>('SELECT node FROM build_failures WHERE batch_id = ?');
  const queues: SnapshotQueue[] = [];
  for (const s of shapes) {
    const batch = batches.get(s.batch_id);
    if (!batch) continue;
    queues.push({
      batchId: s.batch_id,
      capabilities: batch.meta.capabilities,
      demand: { cpus: s.cpus, memory: s.memory, gpus: s.gpus },
      nodes: s.nodes === null ? null : (JSON.parse(s.nodes) as string[]),
      buildFailedOn: failedOn.all(s.batch_id).map((r) => r.node),
      jobIds: firstQueued.all(s.batch_id, s.id, room).map((r) => r.id),
    });
  }
  return { nodes, queues };
}
