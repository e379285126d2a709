// Ranking: among the nodes a job fits, which one it goes to, and what it takes there.
//   1. GPUs go to GPU jobs: the node that leaves the fewest free GPUs idle wins, so a job
//      without GPUs goes to a machine without free GPUs when it can, and a `gpus: 1` job
//      does not split a node whose 2 free GPUs a `gpus: 2` job needs.
//   2. Pack (best fit): the node with the least room left after the job — free cpus, or free
//      slots of a node in queue-depth mode — so small jobs fill the busy machines and whole
//      machines stay free for the big jobs.
//   3. Ties by node name, so the same snapshot always gives the same placements.
// GPUs are handed out by index, lowest free first; two jobs never hold the same one.
import { WHOLE_NODE } from '../../shared/spec/types.js';
import type { Placement, PlaceStats, SnapshotQueue } from './types.js';
import { capacityMisfit, staticMisfit, timeMisfit, type Free } from './feasibility.js';

/** `time`: the job's time limit in seconds (null: none), against nodes that end. */
export function bestNode(queue: SnapshotQueue, free: readonly Free[], stats?: PlaceStats, time: number | null = null): Free | null {
  let best: Free | null = null;
  for (const f of free) {
    if (stats) stats.nodeChecks++;
    if (staticMisfit(queue, f.node) !== null || timeMisfit(f.node, time) !== null || capacityMisfit(queue, f) !== null) continue;
    if (!best || better(queue, f, best)) best = f;
  }
  return best;
}

function better(queue: SnapshotQueue, a: Free, b: Free): boolean {
  const idleGpus = a.gpus.length - b.gpus.length; // the job's own GPUs are the same on both
  if (idleGpus !== 0) return idleGpus < 0;
  const room = roomAfter(queue, a) - roomAfter(queue, b);
  if (room !== 0) return room < 0;
  return a.node.name < b.node.name;
}

function roomAfter(queue: SnapshotQueue, f: Free): number {
  if (queue.demand.cpus === WHOLE_NODE) return 0;
  return f.node.maxJobs !== null ? f.node.maxJobs - f.jobs - 1 : f.cpus - queue.demand.cpus;
}

/** Takes the job's resources from the node's free ones and says what it holds. */
export function reserve(f: Free, queue: SnapshotQueue, jobId: number): Placement {
  const d = queue.demand;
  if (d.cpus === WHOLE_NODE) {
    // the whole node: every cpu, GPU and slot, told the node's cpus
    const gpus = f.gpus.splice(0);
    const cpus = f.node.total.cpus;
    f.cpus = 0;
    f.memory = 0;
    f.jobs = Math.max(f.jobs + 1, f.node.maxJobs ?? 0);
    return { jobId, batchId: queue.batchId, node: f.node.name, cpus, memory: d.memory, gpus };
  }
  const gpus = f.gpus.splice(0, d.gpus); // lowest free indices (kept ascending)
  f.jobs += 1;
  if (f.node.maxJobs === null) {
    f.cpus -= d.cpus;
    f.memory -= d.memory ?? 0;
  }
  return { jobId, batchId: queue.batchId, node: f.node.name, cpus: d.cpus, memory: d.memory, gpus };
}
