// Feasibility: can a job of this queue run on this node, and if not, why — in the words
// `distribute status` shows a user whose job waits. Three small checks, cheapest first:
//   available   the node takes new jobs at all (connected, not paused, not draining)
//   static      what no finished job will change: pin list, build failed there, capabilities
//               (exact strings, all of them), the node is too small even when empty
//   capacity    what running jobs hold now: free GPUs, cpus and memory, or free slots of a
//               node in queue-depth mode (`maxJobs`: cpus and memory ignored; GPUs are
//               devices, so a job that asks for some still needs free ones there). A job
//               asking `cpus: all` (WHOLE_NODE) needs a node that runs nothing, and holds
//               all of it (rank.ts reserve).
import { WHOLE_NODE } from '../../shared/spec/types.js';
import type { QueueShape, SnapshotNode } from './types.js';
import { formatDuration } from '../../shared/spec/units.js';

/** What a node has left during a pass; reserve() takes from it. */
export interface Free {
  node: SnapshotNode;
  cpus: number;
  memory: number;
  /** free GPU indices, ascending */
  gpus: number[];
  jobs: number;
}

export function freeOf(node: SnapshotNode): Free {
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

/** Could the node take any job at all? (Every job needs a cpu or a slot.) */
export function hasRoom(f: Free): boolean {
  return f.node.maxJobs !== null ? f.jobs < f.node.maxJobs : f.cpus > 0;
}

/**
 * Why a job of this queue (with this time limit in seconds, null: none) cannot run on this
 * node now; null when it can.
 */
export function why(queue: QueueShape, node: SnapshotNode, time: number | null = null): string | null {
  return available(node) ?? staticMisfit(queue, node) ?? timeMisfit(node, time) ?? capacityMisfit(queue, freeOf(node));
}

/**
 * A node that ends (a pilot: its walltime) takes only jobs whose time limit fits what it has
 * left; a job without a limit could outlive it, so it never goes there.
 */
export function timeMisfit(node: SnapshotNode, time: number | null): string | null {
  if (node.timeLeft === undefined) return null;
  if (time === null) return `node ${node.name} ends in ${minutes(node.timeLeft)} and the job has no time limit`;
  if (time > node.timeLeft) return `needs ${minutes(time)}, node ${node.name} ends in ${minutes(node.timeLeft)}`;
  return null;
}

/** Capabilities of the batch that the node lacks (exact, case-sensitive). */
export function missingCapabilities(capabilities: readonly string[], nodeCapabilities: readonly string[]): string[] {
  if (capabilities.length === 0) return [];
  // a pass asks this of every free node for every candidate job: each node's set is made once
  let have = capabilitySets.get(nodeCapabilities);
  if (!have) {
    have = new Set(nodeCapabilities);
    capabilitySets.set(nodeCapabilities, have);
  }
  return capabilities.filter((c) => !have.has(c));
}
const capabilitySets = new WeakMap<readonly string[], ReadonlySet<string>>();

export function available(node: SnapshotNode): string | null {
  if (node.lost) return `node ${node.name} is not connected`;
  if (node.draining) return `node ${node.name} is draining`;
  if (node.paused) return `node ${node.name} is paused`;
  return null;
}

/** Reasons that hold whatever runs on the node. */
export function staticMisfit(queue: QueueShape, node: SnapshotNode): string | null {
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
export function capacityMisfit(queue: QueueShape, f: Free): string | null {
  const d = queue.demand;
  const name = f.node.name;
  if (d.cpus === WHOLE_NODE) {
    // a job of its own placed earlier in this pass counts as running
    const busy = f.jobs > 0 || f.cpus < f.node.total.cpus || f.gpus.length < f.node.total.gpus;
    return busy ? `needs the whole of node ${name} (cpus: all), which runs ${f.jobs || 'other'} job${f.jobs === 1 ? '' : 's'}` : null;
  }
  if (d.gpus > f.gpus.length) return `needs ${d.gpus} GPUs, node ${name} has ${f.gpus.length} free`;
  if (f.node.maxJobs !== null) {
    return f.jobs >= f.node.maxJobs ? `node ${name} already runs its maximum of ${f.node.maxJobs} jobs` : null;
  }
  if (d.cpus > f.cpus) return `needs ${d.cpus} cpus, node ${name} has ${f.cpus} free`;
  if (d.memory !== null && d.memory > f.memory) return `needs ${gib(d.memory)} memory, node ${name} has ${gib(f.memory)} free`;
  return null;
}

function minutes(seconds: number): string {
  return formatDuration(Math.max(0, seconds) * 1000);
}

function gib(bytes: number): string {
  const g = bytes / 1024 ** 3;
  return g >= 1 ? `${+g.toFixed(1)} GiB` : `${Math.round(bytes / 1024 ** 2)} MiB`;
}
