// What the head reads of job dependencies (after:) and the finalize step; the writes are in
// transitions.ts. A waiting job is a queued job with `blocked = 1`: the scheduler's snapshot
// leaves it out, so it is not a candidate until its dependencies end done.
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

/** What a waiting job waits for: every other job (the finalize step), or its dependencies not yet done (the first few). */
export type WaitingOn = { finalize: true; left: number } | { finalize: false; first: string[]; count: number };

const SHOWN = 5;

export function waitingOn(store: Store, job: { id: number; batch_id: number; blocked: number; finalize: number }): WaitingOn | null {
  if (job.blocked !== 1) return null;
  if (job.finalize === 1) {
    const left = store
      .stmt<{ n: number }>(`SELECT COUNT(*) AS n FROM jobs WHERE batch_id = ? AND finalize = 0 AND state IN ('queued', 'assigned', 'running', 'paused')`)
      .get(job.batch_id)!.n;
    return { finalize: true, left };
  }
  const open = `FROM job_deps e JOIN jobs d ON d.id = e.dep_id WHERE e.job_id = ? AND d.state != 'done'`;
  const first = store.stmt<{ name: string }>(`SELECT d.name AS name ${open} ORDER BY d.id LIMIT ${SHOWN}`).all(job.id).map((r) => r.name);
  const count = first.length < SHOWN ? first.length : store.stmt<{ n: number }>(`SELECT COUNT(*) AS n ${open}`).get(job.id)!.n;
  return { finalize: false, first, count };
}

/** `mesh`, `a, b, c, d, e and 3 more`: the names of a WaitingOn (as listSome writes them). */
export function waitedNames(w: { first: string[]; count: number }): string {
  return w.first.join(', ') + (w.count > w.first.length ? ` and ${w.count - w.first.length} more` : '');
}

/** What a waiting job waits for, in the words `status` shows; null when it does not wait. */
export function waitingFor(store: Store, job: { id: number; batch_id: number; blocked: number; finalize: number }): string | null {
  const w = waitingOn(store, job);
  if (!w) return null;
  if (w.finalize) return `finalize step: waits for every other job to end (${w.left} still to end)`;
  return `waits for ${waitedNames(w)} (after:)`;
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
