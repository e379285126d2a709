// The scheduler: a pure function from a snapshot of the cluster to placements. No I/O, no
// clock; the head builds the snapshot (snapshot.ts), calls `place` on add, finish, node join,
// resume, kill and retry, and turns the placements into one transaction and `assign` messages.
//
// A chain of small steps (docs/architecture.md, Scheduling), each in its own file under scheduler/:
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
import type { ClusterSnapshot, Placement, PlaceStats } from './scheduler/types.js';
import { freeOf, hasRoom, available } from './scheduler/feasibility.js';
import { QueueOrder } from './scheduler/order.js';
import { bestNode, reserve } from './scheduler/rank.js';
import { placeAhead } from './scheduler/ahead.js';

export { why, missingCapabilities, timeMisfit } from './scheduler/feasibility.js';

export type { ClusterSnapshot, Demand, Placement, PlaceStats, QueueShape, SnapshotNode, SnapshotQueue, SnapshotUser } from './scheduler/types.js';

export function place(snapshot: ClusterSnapshot, stats?: PlaceStats): Placement[] {
  let free = snapshot.nodes.filter((n) => available(n) === null).map(freeOf).filter(hasRoom);
  const placements: Placement[] = [];
  const limit = snapshot.limit ?? Infinity;
  const order = new QueueOrder(snapshot.queues, snapshot.users ?? []);
  for (let c = order.next(); c && free.length > 0 && placements.length < limit; c = order.next()) {
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
  if (snapshot.ahead && placements.length < limit) placements.push(...placeAhead(snapshot.nodes, order, snapshot.ahead, stats, limit - placements.length));
  return placements;
}
