// Builders for the scheduler's tests: a node or a queue as data with the defaults written once.
import { place, type PlaceStats, type SnapshotNode, type SnapshotQueue, type SnapshotUser } from '../../head/scheduler.js';

export const G = 1024 ** 3;

export type NodeOptions = Partial<Omit<SnapshotNode, 'used'>> & { used?: Partial<SnapshotNode['used']> };

export function node(name: string, o: NodeOptions = {}): SnapshotNode {
  return {
    name,
    capabilities: o.capabilities ?? [],
    total: o.total ?? { cpus: 4, memory: 16 * G, gpus: 0 },
    maxJobs: o.maxJobs ?? null,
    lost: o.lost ?? false,
    paused: o.paused ?? false,
    draining: o.draining ?? false,
    used: { cpus: 0, memory: 0, gpus: [], jobs: 0, ...o.used },
    ...(o.waiting !== undefined ? { waiting: o.waiting } : {}),
    ...(o.timeLeft !== undefined ? { timeLeft: o.timeLeft } : {}),
  };
}

export type QueueOptions = Partial<Omit<SnapshotQueue, 'jobIds' | 'batchId'>>;

/** A queue of batch `batchId`, owned by alice unless said otherwise. */
export function queue(batchId: number, jobIds: number[], o: QueueOptions = {}): SnapshotQueue {
  return {
    batchId,
    owner: o.owner ?? 'alice',
    priority: o.priority ?? 0,
    sort: o.sort ?? 'none',
    capabilities: o.capabilities ?? [],
    demand: o.demand ?? { cpus: 1, memory: null, gpus: 0 },
    nodes: o.nodes ?? null,
    buildFailedOn: o.buildFailedOn ?? [],
    jobIds,
    ...(o.times ? { times: o.times } : {}),
  };
}

export function cpus(n: number, memory: number | null = null, gpus = 0) {
  return { cpus: n, memory, gpus };
}

/** Placements as `job@node` (with GPU indices when any), easy to read in a table. */
export function placed(nodes: SnapshotNode[], queues: SnapshotQueue[], users: SnapshotUser[] = [], stats?: PlaceStats): string[] {
  return place({ nodes, queues, users }, stats).map((p) => `${p.jobId}@${p.node}${p.gpus.length ? `[${p.gpus.join(',')}]` : ''}`);
}
