// What the head reads of job dependencies (after:) and the finalize step; the writes are in
// transitions.ts. A waiting job is a queued job with `blocked = 1`: the scheduler's snapshot
// leaves it out, so it is not a candidate until its dependencies end done.
import { listSome } from '../shared/spec/summary.js';
import { FINALIZE_NAME } from '../shared/protocol/common.js';
import type { Store } from './store.js';

/** How the batch's jobs other than the finalize step ended: done, and failed or cancelled. */
export function endedJobs(store: Store, batchId: number): { done: number; failed: number } {
  const row = store
    .stmt<{ done: number | null; failed: number | null }>(
      `SELECT SUM(state = 'done') AS done, SUM(state IN ('failed', 'cancelled')) AS failed FROM jobs WHERE batch_id = ? AND finalize = 0`,
    )
    .get(batchId);
  return { done: row?.done ?? 0, failed: row?.failed ?? 0 };
}

/** What a waiting job waits for, in the words `status` shows; null when it does not wait. */
export function waitingFor(store: Store, job: { id: number; batch_id: number; blocked: number; finalize: number }): string | null {
  if (job.blocked !== 1) return null;
  if (job.finalize === 1) {
    const left = store
      .stmt<{ n: number }>(`SELECT COUNT(*) AS n FROM jobs WHERE batch_id = ? AND finalize = 0 AND state IN ('queued', 'assigned', 'running', 'paused')`)
      .get(job.batch_id)!.n;
    return `finalize step: waits for every other job to end (${left} still to end)`;
  }
  const deps = store
    .stmt<{ name: string }>(`SELECT d.name AS name FROM job_deps e JOIN jobs d ON d.id = e.dep_id WHERE e.job_id = ? AND d.state != 'done' ORDER BY d.id`)
    .all(job.id)
    .map((r) => r.name);
  return `waits for ${listSome(deps)} (after:)`;
}

/** The finalize job of an attempt, when the attempt is the current one of a batch's finalize step on this node. */
export function finalizeAttempt(store: Store, attemptId: number, node: string): { batchId: number } | null {
  const row = store
    .stmt<{ batch_id: number; name: string; finalize: number; current_attempt: number | null; node: string; state: string }>(
      `SELECT j.batch_id, j.name, j.finalize, j.current_attempt, a.node, j.state FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE a.id = ?`,
    )
    .get(attemptId);
  if (!row || row.finalize !== 1 || row.name !== FINALIZE_NAME || row.node !== node || row.current_attempt !== attemptId) return null;
  if (!['assigned', 'running', 'paused'].includes(row.state)) return null;
  return { batchId: row.batch_id };
}
