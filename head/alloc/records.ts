// What the head remembers of its allocation queues and their pilots (migration 12): the only
// SQL on those two tables. A pilot's token is made when its submission returns the job id and
// revoked when it has ended.
import { hashToken } from '../../shared/auth.js';
import type { Store } from '../store.js';

export type PilotState = 'pending' | 'running' | 'ended';

export interface PilotRow {
  node: string;
  queue: string;
  job_id: string;
  state: PilotState;
  submitted: number;
  connected: number | null;
  ends_at: number | null;
  usable_until: number | null;
  ended: number | null;
  end_reason: string | null;
}

export interface QueueRow {
  name: string;
  paused: 'admin' | 'failures' | null;
  failures: number;
  last_error: string | null;
  last_error_at: number | null;
  retry_at: number | null;
}

export function pilotName(queue: string, jobId: string): string {
  return `${queue}-${jobId}`;
}

export function queueRow(store: Store, name: string): QueueRow {
  store.stmt('INSERT OR IGNORE INTO alloc_queues (name) VALUES (?)').run(name);
  return store.stmt<QueueRow>('SELECT * FROM alloc_queues WHERE name = ?').get(name)!;
}

export function livePilots(store: Store, queue: string): PilotRow[] {
  return store.stmt<PilotRow>(`SELECT * FROM pilots WHERE queue = ? AND state <> 'ended' ORDER BY submitted, node`).all(queue);
}

/** Pilots to list: the live ones and the most recent ended ones. */
export function listedPilots(store: Store, queue: string, ended = 20): PilotRow[] {
  return [
    ...livePilots(store, queue),
    ...store.stmt<PilotRow>(`SELECT * FROM pilots WHERE queue = ? AND state = 'ended' ORDER BY ended DESC LIMIT ?`).all(queue, ended),
  ];
}

export function pilotOf(store: Store, node: string): PilotRow | undefined {
  return store.stmt<PilotRow>('SELECT * FROM pilots WHERE node = ?').get(node);
}

/** Records a submitted pilot, and the node token its script carries (stored as its hash). */
export function recordPilot(store: Store, queue: string, jobId: string, token: string): string {
  const node = pilotName(queue, jobId);
  store.tx(() => {
    store.stmt(`INSERT INTO pilots (node, queue, job_id, state, submitted) VALUES (?, ?, ?, 'pending', ?)`).run(node, queue, jobId, store.now());
    store.stmt('INSERT INTO tokens (hash, kind, name, admin, created) VALUES (?, ?, ?, 0, ?)').run(hashToken(token), 'node', node, store.now());
  });
  return node;
}

export function setPilotRunning(store: Store, node: string, endsAt: number | null, usableUntil: number | null): void {
  store
    .stmt(
      `UPDATE pilots SET state = 'running',
         ends_at = CASE WHEN ? IS NULL THEN ends_at WHEN ends_at IS NULL OR ? < ends_at THEN ? ELSE ends_at END,
         usable_until = CASE WHEN ? IS NULL THEN usable_until WHEN usable_until IS NULL OR ? < usable_until THEN ? ELSE usable_until END
       WHERE node = ? AND state <> 'ended'`,
    )
    .run(endsAt, endsAt, endsAt, usableUntil, usableUntil, usableUntil, node);
}

/** The pilot joined the head: the queue's failures are forgotten (a submission is only a success once its pilot joins). */
export function setPilotConnected(store: Store, node: string, at: number): void {
  store.tx(() => {
    store.stmt(`UPDATE pilots SET connected = ? WHERE node = ? AND connected IS NULL`).run(at, node);
    store.stmt(`UPDATE alloc_queues SET failures = 0 WHERE name = (SELECT queue FROM pilots WHERE node = ?)`).run(node);
  });
}

/**
 * The pilot has ended: its token no longer opens the head, and its node row goes too once
 * nothing of it is open (a lost pilot's attempts are requeued by the node's loss first).
 */
export function endPilot(store: Store, node: string, reason: string): void {
  store.tx(() => {
    store.stmt(`UPDATE pilots SET state = 'ended', ended = ?, end_reason = ?, usable_until = 0 WHERE node = ? AND state <> 'ended'`).run(store.now(), reason, node);
    store.stmt(`DELETE FROM tokens WHERE kind = 'node' AND name = ?`).run(node);
  });
}

/** Forgets the node rows of ended pilots that hold nothing, so `nodes` lists no ghosts. */
export function forgetEndedNodes(store: Store, connected: ReadonlySet<string>): void {
  const rows = store.stmt<{ node: string }>(
    `SELECT p.node FROM pilots p JOIN nodes n ON n.name = p.node
     WHERE p.state = 'ended' AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.node = p.node AND a.ended IS NULL)`,
  ).all();
  for (const r of rows) if (!connected.has(r.node)) store.stmt('DELETE FROM nodes WHERE name = ?').run(r.node);
}

export function submissionFailed(store: Store, queue: string, error: string, backoffMs: number, maxFailures: number): QueueRow {
  const q = queueRow(store, queue);
  const failures = q.failures + 1;
  const now = store.now();
  store
    .stmt('UPDATE alloc_queues SET failures = ?, last_error = ?, last_error_at = ?, retry_at = ?, paused = CASE WHEN ? THEN ? ELSE paused END WHERE name = ?')
    .run(failures, error, now, now + backoffMs * 2 ** (failures - 1), failures >= maxFailures ? 1 : 0, 'failures', queue);
  return queueRow(store, queue);
}

export function noteError(store: Store, queue: string, error: string): void {
  queueRow(store, queue);
  store.stmt('UPDATE alloc_queues SET last_error = ?, last_error_at = ? WHERE name = ?').run(error, store.now(), queue);
}

export function setQueuePaused(store: Store, queue: string, paused: boolean): void {
  queueRow(store, queue);
  store.stmt('UPDATE alloc_queues SET paused = ?, failures = CASE WHEN ? THEN failures ELSE 0 END, retry_at = NULL WHERE name = ?').run(paused ? 'admin' : null, paused ? 1 : 0, queue);
}
