// The jobs that wait, as the allocation decision sees them: queued jobs grouped by batch,
// resource shape and time limit, less those the lab's own connected nodes could run (they
// take them when a running job ends). One grouped read of the queued jobs per pass.
import type { SnapshotNode, QueueShape } from '../scheduler.js';
import { available, staticMisfit, timeMisfit } from '../scheduler/feasibility.js';
import type { BatchCache } from '../snapshot.js';
import { snapshotNode } from '../snapshot.js';
import type { Store } from '../store.js';
import type { WaitingGroup } from './decide.js';

export interface Waiting extends WaitingGroup {
  batchId: number;
  shapeId: number;
}

interface GroupRow {
  batch_id: number;
  shape_id: number;
  time_limit: number | null;
  n: number;
  cpus: number;
  memory: number | null;
  gpus: number;
  nodes: string | null;
}

/** At most this many groups are weighed per pass (the oldest batches first). */
const MAX_GROUPS = 10_000;

/** Connected nodes that are not pilots, as the scheduler sees them. */
export function labNodes(store: Store, connected: ReadonlySet<string>): SnapshotNode[] {
  return store
    .nodes()
    .filter((n) => connected.has(n.name))
    .map((n) => snapshotNode(store, n, true))
    .filter((n) => n.timeLeft === undefined && available(n) === null);
}

export function shapeOf(batches: BatchCache, store: Store, batchId: number, row: Pick<GroupRow, 'cpus' | 'memory' | 'gpus' | 'nodes'>): QueueShape | null {
  const batch = batches.get(batchId);
  if (!batch) return null;
  return {
    capabilities: batch.meta.capabilities,
    demand: { cpus: row.cpus, memory: row.memory, gpus: row.gpus },
    nodes: row.nodes === null ? null : (JSON.parse(row.nodes) as string[]),
    buildFailedOn: store.stmt<{ node: string }>('SELECT node FROM build_failures WHERE batch_id = ?').all(batchId).map((r) => r.node),
  };
}

/** Queued jobs no connected lab node could ever run, grouped. */
export function waitingForPilots(store: Store, batches: BatchCache, lab: readonly SnapshotNode[]): Waiting[] {
  const rows = store
    .stmt<GroupRow>(
      `SELECT j.batch_id, j.shape_id, j.time_limit, COUNT(*) AS n, s.cpus, s.memory, s.gpus, s.nodes
       FROM jobs j JOIN shapes s ON s.id = j.shape_id
       WHERE j.state = 'queued' GROUP BY j.batch_id, j.shape_id, j.time_limit ORDER BY j.batch_id LIMIT ${MAX_GROUPS}`,
    )
    .all();
  const out: Waiting[] = [];
  for (const r of rows) {
    const shape = shapeOf(batches, store, r.batch_id, r);
    if (!shape) continue;
    if (lab.some((n) => staticMisfit(shape, n) === null && timeMisfit(n, r.time_limit) === null)) continue;
    out.push({ batchId: r.batch_id, shapeId: r.shape_id, capabilities: shape.capabilities, demand: shape.demand, nodes: shape.nodes, time: r.time_limit, count: r.n });
  }
  return out;
}
