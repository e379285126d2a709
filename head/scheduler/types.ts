// The scheduler's vocabulary: the snapshot it reads (nodes, queues, users) and the placements
// it returns. Its own file so that scheduler.ts and each step under scheduler/ import it
// without importing each other back.
import type { SortOrder } from '../../shared/spec/types.js';

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
  /** most placements in this pass (the first ones of an unbounded pass); unset: no bound */
  limit?: number;
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
