// A batch's summary for its notification, read from the store (inside the caller's transaction).
import { parseBatchRecord, type BatchRow, type Store } from '../store.js';
import { FAILURES_SHOWN, type BatchSummary, type BuildFailure, type FailedJob } from './message.js';

const LINE_LIMIT = 200;

export interface JobCounts {
  total: number;
  open: number;
  done: number;
  failed: number;
  cancelled: number;
}

export function jobCounts(store: Store, batchId: number): JobCounts {
  const rows = store.stmt<{ state: string; n: number }>('SELECT state, COUNT(*) AS n FROM jobs WHERE batch_id = ? GROUP BY state').all(batchId);
  const c: JobCounts = { total: 0, open: 0, done: 0, failed: 0, cancelled: 0 };
  for (const { state, n } of rows) {
    c.total += n;
    if (state === 'done' || state === 'failed' || state === 'cancelled') c[state] += n;
    else c.open += n;
  }
  return c;
}

export function batchSummary(store: Store, batch: BatchRow, counts: JobCounts, now: number): BatchSummary {
  const record = parseBatchRecord(batch);
  return {
    namespace: batch.namespace,
    batch: batch.name,
    counts: { total: counts.total, done: counts.done, failed: counts.failed, cancelled: counts.cancelled },
    wallMs: Math.max(0, now - batch.created),
    failures: firstFailures(store, batch.id),
    buildFailures: buildFailures(store, batch.id),
    file: typeof record.file === 'string' ? record.file : null,
    ...finalizeState(store, batch.id),
  };
}

/** The state the batch's finalize step ended in, when it has one. */
function finalizeState(store: Store, batchId: number): { finalize?: string } {
  const row = store.stmt<{ state: string }>('SELECT state FROM jobs WHERE batch_id = ? AND finalize = 1').get(batchId);
  return row ? { finalize: row.state } : {};
}

/** The failed jobs in the order they failed (by their last attempt's end, then job order). */
function firstFailures(store: Store, batchId: number): FailedJob[] {
  return store
    .stmt<{ name: string; exit_code: number | null; error: string | null; signal: string | null; attempt_error: string | null }>(
      `SELECT j.name, j.exit_code, j.error, a.signal, a.error AS attempt_error
         FROM jobs j LEFT JOIN attempts a ON a.id = j.current_attempt
        WHERE j.batch_id = ? AND j.state = 'failed'
        ORDER BY a.ended IS NULL, a.ended, j.id
        LIMIT ?`,
    )
    .all(batchId, FAILURES_SHOWN)
    .map((r) => withoutRepeats({ name: r.name, exitCode: r.exit_code, signal: r.signal, error: r.error ?? r.attempt_error }));
}

/** The head's error often restates the exit code or signal (`exited with code 1`): say it once. */
function withoutRepeats(j: FailedJob): FailedJob {
  if (j.error !== null && j.exitCode !== null && j.error === `exited with code ${j.exitCode}`) j.error = null;
  if (j.error !== null && j.signal !== null && j.error.includes(j.signal)) j.signal = null;
  return j;
}

function buildFailures(store: Store, batchId: number): BuildFailure[] {
  return store
    .stmt<{ node: string; log: string }>('SELECT node, log FROM build_failures WHERE batch_id = ? ORDER BY node')
    .all(batchId)
    .map((r) => ({ node: r.node, excerpt: buildExcerpt(r.log) }));
}

/**
 * One line out of a node's build report: its status and the last line of its stderr, e.g.
 * `exit code 2; error: solver.f90 not found`. The report reads `build failed: STATUS`, then
 * `stderr:` and `stdout:` sections (compute/builds.ts); any other text gives its last line.
 */
export function buildExcerpt(log: string): string {
  const lines = log.split('\n');
  const status = /^build failed: (.+)$/.exec(lines[0] ?? '')?.[1]?.trim() ?? null;
  const start = lines.indexOf('stderr:');
  const end = start >= 0 ? lines.indexOf('stdout:', start) : -1;
  const section = start >= 0 ? lines.slice(start + 1, end >= 0 ? end : undefined) : status ? [] : lines;
  const last = section.map((l) => l.trim()).filter(Boolean).pop() ?? null;
  const text = [status, last].filter(Boolean).join('; ') || '(empty log)';
  return text.length > LINE_LIMIT ? `${text.slice(0, LINE_LIMIT - 1)}…` : text;
}
