// Deciding what a batch's owner is told, and queueing it in the outbox, inside the transaction
// that changed the batch's jobs: a batch that ends is told once (end, or build_failed when its
// build failed everywhere and nothing ran), and, with `notify: [first_failure]`, its first
// failed job once. Idempotent: calling it again for an unchanged batch queues nothing, so
// callers may call it after any change to a batch's jobs.
import { parseBatchRecord, type BatchRow, type Store } from '../store.js';
import { renderMessage, type NotificationKind } from './message.js';
import { batchSummary, jobCounts, type JobCounts } from './summary.js';

interface Marks {
  ended: number;
  failure_told: number;
}

export interface Enqueued {
  id: number;
  kind: NotificationKind;
  recipient: string;
}

export function noteBatchChange(store: Store, batchId: number): Enqueued[] {
  if (!store.db.inTransaction) return store.tx(() => noteBatchChange(store, batchId));
  const batch = store.batch(batchId);
  if (!batch) return [];
  const meta = parseBatchRecord(batch).meta;
  const recipient = meta.matrix;
  if (!recipient) return [];
  const wants = new Set(meta.notify);
  const marks = store.stmt<Marks>('SELECT ended, failure_told FROM notify_batches WHERE batch_id = ?').get(batchId) ?? { ended: 0, failure_told: 0 };
  const out: Enqueued[] = [];

  // this runs in the transaction of every job's end: index seeks only, full counts once
  if (exists(store, `state IN ('queued', 'assigned', 'running', 'paused')`, batchId)) {
    // running (again, after a retry): a later end is a new end
    const next: Marks = { ended: 0, failure_told: marks.ended ? 0 : marks.failure_told };
    if (wants.has('first_failure') && !next.failure_told && exists(store, `state = 'failed'`, batchId)) {
      out.push(enqueue(store, batch, jobCounts(store, batchId), 'first_failure', recipient));
      next.failure_told = 1;
    }
    saveMarks(store, batchId, marks, next);
    return out;
  }
  if (marks.ended) return out;
  const counts = jobCounts(store, batchId);
  if (counts.total === 0) return out;
  const kind: NotificationKind = buildFailedEverywhere(store, batchId, counts) ? 'build_failed' : 'end';
  // a build that failed everywhere is a failure, told to whoever asked for any notification
  if (wants.has('end') || (kind === 'build_failed' && wants.size > 0)) out.push(enqueue(store, batch, counts, kind, recipient));
  saveMarks(store, batchId, marks, { ended: 1, failure_told: 1 });
  return out;
}

function exists(store: Store, condition: string, batchId: number): boolean {
  return store.stmt(`SELECT 1 FROM jobs WHERE batch_id = ? AND ${condition} LIMIT 1`).get(batchId) !== undefined;
}

/** Nothing ran to an exit code, and the batch recorded build failures. */
function buildFailedEverywhere(store: Store, batchId: number, counts: JobCounts): boolean {
  if (counts.done > 0 || counts.failed === 0) return false;
  const built = store.stmt<{ n: number }>('SELECT COUNT(*) AS n FROM build_failures WHERE batch_id = ?').get(batchId)?.n ?? 0;
  if (built === 0) return false;
  const ranToExit = store.stmt<{ n: number }>(`SELECT COUNT(*) AS n FROM jobs WHERE batch_id = ? AND state = 'failed' AND exit_code IS NOT NULL`).get(batchId)?.n ?? 0;
  return ranToExit === 0;
}

function enqueue(store: Store, batch: BatchRow, counts: JobCounts, kind: NotificationKind, recipient: string): Enqueued {
  const now = store.now();
  const msg = renderMessage(kind, batchSummary(store, batch, counts, now));
  const id = Number(
    store
      .stmt(`INSERT INTO notify_outbox (batch_id, kind, recipient, body, html, state, attempts, next_at, created) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)`)
      .run(batch.id, kind, recipient, msg.body, msg.html, now, now).lastInsertRowid,
  );
  return { id, kind, recipient };
}

function saveMarks(store: Store, batchId: number, before: Marks, after: Marks): void {
  if (before.ended === after.ended && before.failure_told === after.failure_told) return;
  store
    .stmt(`INSERT INTO notify_batches (batch_id, ended, failure_told) VALUES (?, ?, ?) ON CONFLICT (batch_id) DO UPDATE SET ended = excluded.ended, failure_told = excluded.failure_told`)
    .run(batchId, after.ended, after.failure_told);
}
