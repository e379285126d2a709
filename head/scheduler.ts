// The scheduler: a pure function from a snapshot of the cluster to placements. No I/O, no
// clock; the head builds the snapshot (snapshot.ts), calls `place` on add, finish, node join,
// kill and retry, and turns the placements into one transaction and `assign` messages.
//
// A queue is the jobs of one batch that share a resource shape and pin list: they are
// interchangeable, so the snapshot carries only the first few queued ids of each queue (as
// many as could possibly be placed), never every queued job of a 100k-job batch.
//
// Rules (this issue): feasibility = node online and not paused or draining; in the pin list
// when one is set; the batch's build did not fail there; every capability of the batch
// (exact strings); free cpus, memory and GPUs cover the job. A node in queue-depth mode
// (`maxJobs`) ignores cpus and memory and runs at most maxJobs jobs; GPUs are devices, so a
// job that asks for some still needs free ones there. Order: submission order (queues by
// their first job id), skipping a queue that fits nowhere now (later ones may fit). Among the
// nodes a job fits, the one with the most free cpus (free slots in queue-depth mode) wins,
// so work spreads over the workstations; ties go by name. GPUs: lowest free indices first.

export interface Demand {
  cpus: number;
  /** bytes; null = no reservation */
  memory: number | null;
  gpus: number;
}

export interface SnapshotNode {
  name: string;
  capabilities: readonly string[];
  /** what the node offers */
  total: { cpus: number; memory: number; gpus: number };
  /** queue-depth mode: at most this many jobs, resources ignored */
  maxJobs: number | null;
  lost: boolean;
  paused: boolean;
  draining: boolean;
  /** what live attempts hold */
  used: { cpus: number; memory: number; gpus: readonly number[]; jobs: number };
}

export interface SnapshotQueue {
  batchId: number;
  /** the batch's capabilities: all must be on the node */
  capabilities: readonly string[];
  demand: Demand;
  /** pin list; null = anywhere */
  nodes: readonly string[] | null;
  /** nodes where this batch's build failed */
  buildFailedOn: readonly string[];
  /** first queued jobs, in submission order */
  jobIds: readonly number[];
}

export interface ClusterSnapshot {
  nodes: readonly SnapshotNode[];
  queues: readonly SnapshotQueue[];
}

export interface Placement {
  jobId: number;
  batchId: number;
  node: string;
  cpus: number;
  memory: number | null;
  gpus: number[];
}

interface Free {
  node: SnapshotNode;
  cpus: number;
  memory: number;
  gpus: number[];
  jobs: number;
}

export function place(snapshot: ClusterSnapshot): Placement[] {
  const free = snapshot.nodes.filter((n) => available(n) === null).map(freeOf);
  const placements: Placement[] = [];
  if (free.length === 0) return placements;
  for (const queue of inSubmissionOrder(snapshot.queues)) {
    for (const jobId of queue.jobIds) {
      const target = bestFit(queue, free);
      if (!target) break; // the rest of this queue is the same job again
      placements.push(reserve(target, queue, jobId));
    }
  }
  return placements;
}

/**
 * Why a job of this queue cannot run on this node now, in the words `status` shows; null
 * when it can.
 */
export function why(queue: Omit<SnapshotQueue, 'jobIds'>, node: SnapshotNode): string | null {
  return available(node) ?? staticMisfit(queue, node) ?? capacityMisfit(queue, freeOf(node));
}

/** Capabilities of the batch that the node lacks (exact, case-sensitive). */
export function missingCapabilities(capabilities: readonly string[], nodeCapabilities: readonly string[]): string[] {
  const have = new Set(nodeCapabilities);
  return capabilities.filter((c) => !have.has(c));
}

function available(node: SnapshotNode): string | null {
  if (node.lost) return `node ${node.name} is not connected`;
  if (node.draining) return `node ${node.name} is draining`;
  if (node.paused) return `node ${node.name} is paused`;
  return null;
}

/** Reasons that hold whatever runs on the node. */
function staticMisfit(queue: Omit<SnapshotQueue, 'jobIds'>, node: SnapshotNode): string | null {
  if (queue.nodes && !queue.nodes.includes(node.name)) return `pinned to ${queue.nodes.join(', ')}`;
  if (queue.buildFailedOn.includes(node.name)) return `its build failed on node ${node.name}`;
  const missing = missingCapabilities(queue.capabilities, node.capabilities);
  if (missing.length) return `node ${node.name} lacks capabilit${missing.length === 1 ? 'y' : 'ies'} ${missing.join(', ')}`;
  const d = queue.demand;
  if (d.gpus > node.total.gpus) return `needs ${d.gpus} GPUs, node ${node.name} has ${node.total.gpus}`;
  if (node.maxJobs !== null) return null;
  if (d.cpus > node.total.cpus) return `needs ${d.cpus} cpus, node ${node.name} has ${node.total.cpus}`;
  if (d.memory !== null && d.memory > node.total.memory) return `needs ${gib(d.memory)} memory, node ${node.name} has ${gib(node.total.memory)}`;
  return null;
}

/** Reasons that pass when running jobs end. */
function capacityMisfit(queue: Omit<SnapshotQueue, 'jobIds'>, f: Free): string | null {
  const d = queue.demand;
  const name = f.node.name;
  if (d.gpus > f.gpus.length) return `needs ${d.gpus} GPUs, node ${name} has ${f.gpus.length} free`;
  if (f.node.maxJobs !== null) {
    return f.jobs >= f.node.maxJobs ? `node ${name} already runs its maximum of ${f.node.maxJobs} jobs` : null;
  }
  if (d.cpus > f.cpus) return `needs ${d.cpus} cpus, node ${name} has ${f.cpus} free`;
  if (d.memory !== null && d.memory > f.memory) return `needs ${gib(d.memory)} memory, node ${name} has ${gib(f.memory)} free`;
  return null;
}

function freeOf(node: SnapshotNode): Free {
  const usedGpus = new Set(node.used.gpus);
  const gpus: number[] = [];
  for (let i = 0; i < node.total.gpus; i++) if (!usedGpus.has(i)) gpus.push(i);
  return {
    node,
    cpus: node.total.cpus - node.used.cpus,
    memory: node.total.memory - node.used.memory,
    gpus,
    jobs: node.used.jobs,
  };
}

function inSubmissionOrder(queues: readonly SnapshotQueue[]): SnapshotQueue[] {
  return queues.filter((q) => q.jobIds.length > 0).sort((a, b) => a.jobIds[0]! - b.jobIds[0]!);
}

function room(f: Free): number {
  return f.node.maxJobs !== null ? f.node.maxJobs - f.jobs : f.cpus;
}

function bestFit(queue: SnapshotQueue, free: Free[]): Free | null {
  let best: Free | null = null;
  for (const f of free) {
    if (staticMisfit(queue, f.node) !== null || capacityMisfit(queue, f) !== null) continue;
    if (!best || room(f) > room(best) || (room(f) === room(best) && f.node.name < best.node.name)) best = f;
  }
  return best;
}

function reserve(f: Free, queue: SnapshotQueue, jobId: number): Placement {
  const d = queue.demand;
  const gpus = f.gpus.splice(0, d.gpus); // lowest free indices (kept sorted)
  f.jobs += 1;
  if (f.node.maxJobs === null) {
    f.cpus -= d.cpus;
    f.memory -= d.memory ?? 0;
  }
  return { jobId, batchId: queue.batchId, node: f.node.name, cpus: d.cpus, memory: d.memory, gpus };
}

function gib(bytes: number): string {
  const g = bytes / 1024 ** 3;
  return g >= 1 ? `${+g.toFixed(1)} GiB` : `${Math.round(bytes / 1024 ** 2)} MiB`;
}
