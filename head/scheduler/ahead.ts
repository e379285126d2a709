// Assigning ahead: once no queued job fits the free resources of any node, each node may take
// up to `ahead` more jobs that it would run when empty. It holds them and starts one the moment
// a job of its own ends (compute/local-slots.ts), instead of reporting the end and waiting for
// the head's next `assign`: for short jobs that round trip, not the job, set the pace.
//
// Only what fits the free resources is placed first, so spreading is unchanged: a job goes
// ahead only where nothing can start now. Jobs that need GPUs never go ahead (their devices are
// chosen when they are placed). The price is fairness by one job per node: a user who adds a
// batch later is served after the jobs already waiting on the nodes (`assign_ahead: 0` in
// head.yaml turns it off).
import { WHOLE_NODE } from '../../shared/spec/types.js';
import type { PlaceStats, Placement, SnapshotNode } from './types.js';
import { available, staticMisfit, timeMisfit } from './feasibility.js';
import type { QueueOrder } from './order.js';

interface Spare {
  node: SnapshotNode;
  waiting: number;
}

export function placeAhead(nodes: readonly SnapshotNode[], order: QueueOrder, ahead: number, stats?: PlaceStats, limit = Infinity): Placement[] {
  let spare: Spare[] = nodes.filter((n) => available(n) === null && (n.waiting ?? 0) < ahead).map((node) => ({ node, waiting: node.waiting ?? 0 }));
  const placements: Placement[] = [];
  order.reopen();
  for (let c = order.next(); c && spare.length > 0 && placements.length < limit; c = order.next()) {
    if (stats) stats.candidates++;
    const q = c.queue;
    let target: Spare | null = null;
    // a whole-node job (cpus: all) waits for an empty node at the head, never on one
    if (q.demand.gpus === 0 && q.demand.cpus !== WHOLE_NODE) {
      for (const s of spare) {
        if (stats) stats.nodeChecks++;
        if (staticMisfit(q, s.node) !== null || timeMisfit(s.node, order.jobTime(c)) !== null) continue;
        if (!target || s.waiting < target.waiting || (s.waiting === target.waiting && load(s.node) < load(target.node))) target = s;
      }
    }
    if (!target) {
      order.drop(c);
      continue;
    }
    placements.push({ jobId: order.jobId(c), batchId: q.batchId, node: target.node.name, cpus: q.demand.cpus, memory: q.demand.memory, gpus: [] });
    order.served(c);
    target.waiting++;
    if (target.waiting >= ahead) spare = spare.filter((s) => s !== target);
  }
  return placements;
}

/** How full a node is: its share of cpus held, or of its slots in queue-depth mode. */
function load(n: SnapshotNode): number {
  return n.maxJobs !== null ? n.used.jobs / n.maxJobs : n.used.cpus / n.total.cpus;
}
