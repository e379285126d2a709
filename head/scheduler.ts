// The scheduler: a pure function from a snapshot of the cluster to placements. No I/O, no
// clock; the head builds the snapshot (snapshot.ts), calls `place` on add, finish, node join,
// resume, kill and retry, and turns the placements into one transaction and `assign` messages.
//
// A chain of small steps (DESIGN §7), each in its own file under scheduler/:
//   ordering     order.ts        which queued job is offered the nodes next: priority, fair
//                                share between users, submission order, the batch's `sort`
//   feasibility  feasibility.ts  can it run on this node now, and if not why (`status` shows it)
//   ranking      rank.ts         which of the nodes it fits takes it (GPUs to GPU jobs, then
//                                packed), and which GPU indices it gets
//   ahead        ahead.ts        once nothing more fits anywhere: a short queue of further jobs
//                                per node, which it starts the moment a job of its own ends
//
// A queue is the jobs of one batch that share a resource shape and pin list: they fit the
// same nodes, so when the head of a queue fits nowhere the whole queue is skipped for this
// pass (a later, smaller job may still fit: a 2-cpu job never waits behind a 16-cpu one that
// has no room). The snapshot carries only the first jobs of each queue (as many as could
// possibly be placed), so a pass examines as many candidates with 100,000 jobs queued as
// with 1,000: at most one per placement plus one per queue.
import type { SortOrder } from '../shared/spec/types.js';
import { freeOf, hasRoom, available } from './scheduler/feasibility.js';
import { QueueOrder } from './scheduler/order.js';
import { bestNode, reserve } from './scheduler/rank.js';
import { placeAhead } from './scheduler/ahead.js';

export { why, missingCapabilities, timeMisfit } from './scheduler/feasibility.js';

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
  /** stopping, or drained by an admin: no new jobs, running ones finish */
  draining: boolean;
  /** what live attempts hold */
  used: { cpus: number; memory: number; gpus: readonly number[]; jobs: number };
  /** of those, attempts assigned whose process has not started (assigned ahead, or preparing) */
  waiting?: number;
  /**
   * seconds a job placed now may run before the node goes away (a pilot's walltime, less a
   * margin); unset: the node does not end. Only jobs whose time limit fits are placed here.
   */
  timeLeft?: number;
}

/** What decides where the jobs of a queue may run: the same for each of them. */
export interface QueueShape {
  /** the batch's capabilities: all must be on the node */
  capabilities: readonly string[];
  demand: Demand;
  /** pin list; null = anywhere */
  nodes: readonly string[] | null;
  /** nodes where this batch's build failed */
  buildFailedOn: readonly string[];
}

export interface SnapshotQueue extends QueueShape {
  batchId: number;
  /** the user who added the batch: fair share is between owners */
  owner: string;
  /** the batch's priority, higher first */
  priority: number;
  sort: SortOrder;
  /**
   * the first queued jobs, in the batch's order: submission order, or with a `sort`, the
   * longest time limit first (no limit first of all), then submission order
   */
  jobIds: readonly number[];
  /** time limits of jobIds in seconds (null: none): for a batch's `sort`, and for nodes that end */
  times?: readonly (number | null)[];
}

/** A user's share so far: jobs holding a node now, and when they were last served. */
export interface SnapshotUser {
  name: string;
  running: number;
  /** a stamp that only grows (the newest attempt id placed for them); 0 = never */
  lastServed: number;
}

export interface ClusterSnapshot {
  nodes: readonly SnapshotNode[];
  queues: readonly SnapshotQueue[];
  /** owners not listed run nothing and were never served */
  users?: readonly SnapshotUser[];
  /** jobs a node may hold waiting beyond those it runs (ahead.ts); 0 or unset: none */
  ahead?: number;
}

export interface Placement {
  jobId: number;
  batchId: number;
  node: string;
  cpus: number;
  memory: number | null;
  gpus: number[];
}

/** What a pass examined: jobs offered the nodes, and (job, node) feasibility checks. */
export interface PlaceStats {
  candidates: number;
  nodeChecks: number;
}

export function place(snapshot: ClusterSnapshot, stats?: PlaceStats): Placement[] {
  let free = snapshot.nodes.filter((n) => available(n) === null).map(freeOf).filter(hasRoom);
  const placements: Placement[] = [];
  const order = new QueueOrder(snapshot.queues, snapshot.users ?? []);
  for (let c = order.next(); c && free.length > 0; c = order.next()) {
    if (stats) stats.candidates++;
    const target = bestNode(c.queue, free, stats, order.jobTime(c));
    if (!target) {
      order.drop(c);
      continue;
    }
    placements.push(reserve(target, c.queue, order.jobId(c)));
    order.served(c);
    if (!hasRoom(target)) free = free.filter((f) => f !== target);
  }
  if (snapshot.ahead) placements.push(...placeAhead(snapshot.nodes, order, snapshot.ahead, stats));
  return placements;
}
