// Ordering: which queued job is offered the free nodes next (docs/architecture.md, Scheduling), key by key:
//   1. the batch's `priority`, higher first;
//   2. fair share between users (the batch's owner): the owner with the fewest running jobs
//      first, and on a tie the one served least recently (never served = first);
//   3. submission order: the older batch first;
//   4. within a batch, its `sort`:
//        gpus_runtime_memory  more GPUs first, then the longer time limit, then more memory
//        gpus_memory_runtime  more GPUs first, then more memory, then the longer time limit
//        none                 submission order
//      Descending on purpose: the big jobs start first, so the small ones that fill the gaps
//      after them (a small job never waits behind a big one that fits nowhere) do not starve
//      them. A job without a time limit counts as the longest, without memory as 0 bytes;
//   5. the job's own submission order.
// Running counts and service times move as the pass places jobs, so a single pass already
// alternates between users: a user who submits later is served at the next free slot.
//
// A cursor walks each queue (whose job ids come in the batch's order, see SnapshotQueue);
// the next job is the best head among the live cursors: a pass costs O(placements × queues),
// whatever the length of the queues.
import type { SnapshotQueue, SnapshotUser } from './types.js';

export interface Cursor {
  readonly queue: SnapshotQueue;
  /** index of the head job in queue.jobIds */
  at: number;
}

interface Account {
  running: number;
  lastServed: number;
}

export class QueueOrder {
  private live: Cursor[];
  private readonly all: readonly Cursor[];
  private readonly accounts = new Map<string, Account>();
  /** service stamps handed out in this pass come after every one the snapshot holds */
  private clock: number;

  constructor(queues: readonly SnapshotQueue[], users: readonly SnapshotUser[]) {
    this.all = queues.filter((q) => q.jobIds.length > 0).map((queue) => ({ queue, at: 0 }));
    this.live = [...this.all];
    this.clock = 0;
    for (const u of users) {
      this.accounts.set(u.name, { running: u.running, lastServed: u.lastServed });
      this.clock = Math.max(this.clock, u.lastServed);
    }
  }

  /** The cursor whose head job goes next; null when every queue is placed or dropped. */
  next(): Cursor | null {
    let best: Cursor | null = null;
    for (const c of this.live) if (!best || this.compare(c, best) < 0) best = c;
    return best;
  }

  jobId(c: Cursor): number {
    return c.queue.jobIds[c.at]!;
  }

  /** The head job's time limit in seconds; null: none (or not in the snapshot). */
  jobTime(c: Cursor): number | null {
    return c.queue.times?.[c.at] ?? null;
  }

  /** The head job was placed: move on, and count its owner as running one more and served now. */
  served(c: Cursor): void {
    const a = this.account(c.queue.owner);
    a.running += 1;
    a.lastServed = ++this.clock;
    c.at += 1;
    if (c.at >= c.queue.jobIds.length) this.drop(c);
  }

  /** The head job fits on no free node: neither will the rest of its queue in this pass. */
  drop(c: Cursor): void {
    const i = this.live.indexOf(c);
    if (i >= 0) this.live.splice(i, 1);
  }

  /** Offers again every queue that still has jobs, those dropped for want of room included. */
  reopen(): void {
    this.live = this.all.filter((c) => c.at < c.queue.jobIds.length);
  }

  private account(owner: string): Account {
    let a = this.accounts.get(owner);
    if (!a) {
      a = { running: 0, lastServed: 0 };
      this.accounts.set(owner, a);
    }
    return a;
  }

  /** Negative when a goes before b. */
  private compare(a: Cursor, b: Cursor): number {
    const qa = a.queue;
    const qb = b.queue;
    if (qa.priority !== qb.priority) return qb.priority - qa.priority;
    if (qa.owner !== qb.owner) {
      const ua = this.account(qa.owner);
      const ub = this.account(qb.owner);
      if (ua.running !== ub.running) return ua.running - ub.running;
      if (ua.lastServed !== ub.lastServed) return ua.lastServed - ub.lastServed;
    }
    if (qa.batchId !== qb.batchId) return qa.batchId - qb.batchId;
    return withinBatch(a, b) || this.jobId(a) - this.jobId(b);
  }
}

/** The batch's `sort` between the heads of two of its queues (0 = same rank). */
function withinBatch(a: Cursor, b: Cursor): number {
  const da = a.queue.demand;
  const db = b.queue.demand;
  const gpus = db.gpus - da.gpus;
  const time = descending(timeOf(a), timeOf(b));
  const memory = (db.memory ?? 0) - (da.memory ?? 0);
  switch (a.queue.sort) {
    case 'gpus_runtime_memory':
      return gpus || time || memory;
    case 'gpus_memory_runtime':
      return gpus || memory || time;
    case 'none':
      return 0;
  }
}

/** The head job's time limit; no limit is the longest. */
function timeOf(c: Cursor): number {
  return c.queue.times?.[c.at] ?? Infinity;
}

function descending(x: number, y: number): number {
  return x === y ? 0 : x > y ? -1 : 1;
}
