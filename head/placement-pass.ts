// The scheduling pass: snapshot → place → one transaction → `assign` messages. Requested on
// add, finish, start (a place ahead freed), node join, resume, kill and retry; requests within one turn of the event loop
// coalesce into one pass. The only timer: a pass that failed (a full disk refuses its
// transaction) is tried again, after 1 s doubling to 30 s, until one succeeds; jobs never wait
// for an unrelated event to be placed.
import { WHOLE_NODE } from '../shared/spec/types.js';
import type { Logger } from '../shared/log.js';
import type { HeadMessage } from '../shared/protocol/messages.js';
import type { NodeLink } from './context.js';
import type { HeadMetrics } from './metrics.js';
import { endedJobs } from './dependencies.js';
import { place } from './scheduler.js';
import { buildSnapshot, type BatchCache } from './snapshot.js';
import { parseJobRecord, type Store } from './store.js';
import { applyPlacements, type Assignment } from './transitions.js';

/** Most jobs one pass places; a pass that placed this many asks for the next. */
export const PLACEMENTS_PER_PASS = 500;
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30_000;

export class Scheduling {
  private requested = false;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;
  private failures = 0;

  constructor(
    private readonly deps: {
      store: Store;
      batches: BatchCache;
      nodes: NodeLink;
      log: Logger;
      metrics?: HeadMetrics;
      ahead?: number;
      onFailure?: (err: unknown) => void;
      /** true while results wait to be archived beyond their limit: nothing is placed (result-backlog.ts) */
      heldBack?: () => boolean;
      /** most placements per pass (default PLACEMENTS_PER_PASS) */
      perPass?: number;
    },
  ) {}

  request(): void {
    if (this.requested || this.stopped) return;
    this.requested = true;
    const requestedAt = performance.now();
    setImmediate(() => {
      this.requested = false;
      if (this.stopped) return;
      try {
        this.run(requestedAt);
        this.failures = 0;
      } catch (err) {
        this.failed(err);
      }
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
  }

  private failed(err: unknown): void {
    this.failures++;
    const retryMs = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (this.failures - 1));
    this.deps.log.error({ event: 'schedule_failed', err, retry_ms: retryMs }, `scheduling pass failed; trying again in ${retryMs} ms`);
    this.deps.onFailure?.(err);
    if (this.retry || this.stopped) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.request();
    }, retryMs);
    this.retry.unref();
  }

  /** One pass; `requestedAt` (performance.now()) is when it was first asked for, for the placement latency. */
  run(requestedAt?: number): Assignment[] {
    const { store, batches, nodes, log } = this.deps;
    const t0 = performance.now();
    // nothing ready to run: nothing to place, and no node need be read (a thousand nodes
    // joining ask for a thousand passes, each of which would read every node); or too many
    // results wait to be archived: the backlog's drain asks for the pass again
    if (this.deps.heldBack?.() || !store.stmt(`SELECT 1 FROM jobs INDEXED BY jobs_ready WHERE state = 'queued' AND blocked = 0 LIMIT 1`).get()) {
      this.deps.metrics?.placementPass((performance.now() - (requestedAt ?? t0)) / 1000, 0);
      return [];
    }
    // a bounded pass: thousands of slots freed at once (a thousand nodes) are filled over a few
    // turns, with the nodes' frames read in between, not in one turn of a second
    const perPass = this.deps.perPass ?? PLACEMENTS_PER_PASS;
    const snapshot = buildSnapshot(store, batches, nodes.connected(), this.deps.ahead ?? 0, perPass);
    const placements = place(snapshot);
    const assignments = applyPlacements(store, placements);
    // (counted before applyPlacements, which skips a job no longer queued)
    if (placements.length >= perPass) this.request();
    for (const a of assignments) {
      const msg = this.assignMessage(a);
      if (!msg || !nodes.send(a.node, msg)) {
        // the node's reconnect (hello) or loss requeues it
        log.warn({ event: 'assign_unsent', node: a.node, attempt: a.attempt, job: a.jobId }, 'could not send an assignment');
      } else if (msg.type === 'assign') {
        const owner = batches.get(a.batchId)?.owner;
        log.info({ event: 'job_assigned', node: a.node, attempt: a.attempt, owner, namespace: msg.namespace, batch: msg.batch, job: msg.job.name, gpus: a.gpus }, 'job assigned');
      }
    }
    this.deps.metrics?.placementPass((performance.now() - (requestedAt ?? t0)) / 1000, assignments.length);
    if (assignments.length) {
      log.info({ event: 'scheduled', placed: assignments.length, queues: snapshot.queues.length, ms: +(performance.now() - t0).toFixed(2) }, 'placed jobs');
    }
    return assignments;
  }

  private assignMessage(a: Assignment): HeadMessage | null {
    const batch = this.deps.batches.get(a.batchId);
    const job = a.job;
    if (!batch) return null;
    const rec = parseJobRecord(job);
    return {
      type: 'assign',
      attempt: a.attempt,
      attemptNumber: a.number,
      batchId: a.batchId,
      namespace: batch.namespace,
      batch: batch.name,
      kind: batch.kind,
      initialize: batch.initialize,
      // cpus: all is stored as WHOLE_NODE; the node is told the cpus the placement gave it
      job: rec.job.resources.cpus === WHOLE_NODE ? { ...rec.job, resources: { ...rec.job.resources, cpus: a.cpus } } : rec.job,
      cpus: a.cpus,
      gpus: a.gpus,
      ...(job.finalize === 1 ? { finalize: endedJobs(this.deps.store, a.batchId) } : {}),
    };
  }
}
