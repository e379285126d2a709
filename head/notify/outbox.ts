// The outbox worker: sends the pending rows of notify_outbox, one at a time, outside any
// transaction, and marks each sent. Timer-driven (a row waits for its next_at) and woken by
// `kick()` after a row is queued; it never blocks the event loop, and a homeserver that stalls
// holds nothing but this worker (every send has a deadline).
//
// Exactly once: the transaction id of a row is fixed (`txnId(row)`: this database's random
// instance id and the row id). If the head dies after the homeserver stored the message but
// before the row is marked sent, the row is sent again after restart with the same txnId and
// access token, and the homeserver answers with the first event instead of storing a second
// (Matrix deduplicates sends per access token / device and txnId).
//
// Failures: a 429 waits exactly what the server asked (retry_after_ms or Retry-After) and
// holds the whole queue that long; a transient failure (unreachable, timeout, 5xx, login
// refused) backs off exponentially, also for the whole queue, and never gives up; a failure
// particular to one message (a 4xx on its room or send) is retried `maxAttempts` times and then
// the row is marked failed.
import type { Logger } from '../../shared/log.js';
import type { Store } from '../store.js';
import type { Message, NotificationKind } from './message.js';

export interface OutboxRow {
  id: number;
  batch_id: number;
  kind: NotificationKind;
  recipient: string;
  body: string;
  html: string;
  state: 'pending' | 'sent' | 'failed';
  attempts: number;
  next_at: number;
  last_error: string | null;
  created: number;
  sent_at: number | null;
  event_id: string | null;
}

/** Why a delivery failed, as the sender classifies it. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    /** a problem of this message (not of the homeserver or the account): counts towards giving up */
    readonly permanent: boolean,
    /** the server asked to wait this long */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

export interface Sender {
  /** Delivers the message to the recipient's direct room with this transaction id. */
  send(recipient: string, message: Message, txnId: string): Promise<{ eventId: string }>;
  /** Abandons requests in flight (shutdown). */
  abort(): void;
}

export interface OutboxOptions {
  logger: Logger;
  /** first backoff; doubles per failed attempt */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** attempts of a message whose failure is its own (a 4xx) before it is marked failed */
  maxAttempts?: number;
  /** the deadline of one whole delivery (login, room, send) */
  deadlineMs?: number;
}

export const OUTBOX_DEFAULTS = { baseDelayMs: 2000, maxDelayMs: 10 * 60_000, maxAttempts: 8, deadlineMs: 60_000 };

export function txnIdPrefix(store: Store): string {
  const row = store.stmt<{ value: string }>(`SELECT value FROM notify_meta WHERE key = 'instance'`).get();
  if (!row) throw new Error('notify_meta has no instance id: the notification migration did not run');
  return `distribute.${row.value}.`;
}

export class OutboxWorker {
  private readonly opts: Required<Omit<OutboxOptions, 'logger'>>;
  private readonly log: Logger;
  private readonly prefix: string;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private running = false;
  private kicked = false;
  private stopped = true;
  /** the whole queue waits until then (429, homeserver down) */
  private heldUntil = 0;
  private idle: Promise<void> = Promise.resolve();

  constructor(private readonly store: Store, private readonly sender: Sender, opts: OutboxOptions) {
    this.log = opts.logger;
    this.opts = {
      baseDelayMs: opts.baseDelayMs ?? OUTBOX_DEFAULTS.baseDelayMs,
      maxDelayMs: opts.maxDelayMs ?? OUTBOX_DEFAULTS.maxDelayMs,
      maxAttempts: opts.maxAttempts ?? OUTBOX_DEFAULTS.maxAttempts,
      deadlineMs: opts.deadlineMs ?? OUTBOX_DEFAULTS.deadlineMs,
    };
    this.prefix = txnIdPrefix(store);
  }

  txnId(rowId: number): string {
    return `${this.prefix}${rowId}`;
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  /** A row was queued (possibly inside a transaction not yet committed): look again soon. */
  kick(): void {
    if (this.stopped || this.kicked) return;
    this.kicked = true;
    setImmediate(() => {
      this.kicked = false;
      this.schedule();
    });
  }

  /** Stops the timer and abandons a delivery in flight (its row stays pending). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimer();
    this.sender.abort();
    // the aborted request settles at once; a sender that ignores abort is not waited for long
    await Promise.race([this.idle, new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  /** Sets the timer for the earliest pending row (or the end of a hold). */
  private schedule(): void {
    if (this.stopped || this.running) return;
    const next = this.store.stmt<{ at: number | null }>(`SELECT MIN(next_at) AS at FROM notify_outbox WHERE state = 'pending'`).get()?.at ?? null;
    if (next === null) return this.clearTimer();
    const at = Math.max(next, this.heldUntil);
    if (this.timer && this.timerAt <= at) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.idle = this.pass();
    }, Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  /** Sends every due row, oldest first (messages keep their order); stops at the first failure (the queue is then held). */
  private async pass(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      while (!this.stopped && Date.now() >= this.heldUntil) {
        const row = this.store
          .stmt<OutboxRow>(`SELECT * FROM notify_outbox WHERE state = 'pending' AND next_at <= ? ORDER BY id LIMIT 1`)
          .get(Date.now());
        if (!row) break;
        if (!(await this.deliver(row))) break;
      }
    } catch (err) {
      this.log.error({ event: 'notification_error', err }, 'notification outbox: unexpected error');
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  /** One attempt at one row. True when it was sent. */
  private async deliver(row: OutboxRow): Promise<boolean> {
    const ctx = { outbox: row.id, batch_id: row.batch_id, kind: row.kind, recipient: row.recipient, delivery_attempt: row.attempts + 1 };
    try {
      const { eventId } = await withDeadline(this.sender.send(row.recipient, { body: row.body, html: row.html }, this.txnId(row.id)), this.opts.deadlineMs);
      if (this.stopped) return false;
      this.store.tx(() =>
        this.store
          .stmt(`UPDATE notify_outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?, event_id = ?, last_error = NULL WHERE id = ? AND state = 'pending'`)
          .run(Date.now(), eventId, row.id),
      );
      this.log.info({ event: 'notification_sent', ...ctx, event_id: eventId }, 'notification sent');
      return true;
    } catch (err) {
      if (this.stopped) return false;
      // past the deadline: end what is still in flight, so a late answer cannot race the retry
      if (err instanceof DeadlineError) this.sender.abort();
      this.recordFailure(row, err, ctx);
      return false;
    }
  }

  private recordFailure(row: OutboxRow, err: unknown, ctx: Record<string, unknown>): void {
    const e = err instanceof DeliveryError ? err : new DeliveryError(err instanceof Error ? err.message : String(err), false);
    const attempts = row.attempts + 1;
    const giveUp = e.permanent && attempts >= this.opts.maxAttempts;
    const delay = e.retryAfterMs ?? Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** Math.min(attempts - 1, 30));
    const nextAt = Date.now() + delay;
    this.store.tx(() =>
      this.store
        .stmt(`UPDATE notify_outbox SET state = ?, attempts = ?, next_at = ?, last_error = ? WHERE id = ? AND state = 'pending'`)
        .run(giveUp ? 'failed' : 'pending', attempts, nextAt, e.message, row.id),
    );
    if (!e.permanent) this.heldUntil = nextAt;
    if (giveUp) this.log.error({ event: 'notification_failed', ...ctx, error: e.message }, `notification given up after ${attempts} attempts`);
    else this.log.warn({ event: 'notification_retry', ...ctx, error: e.message, retry_in_ms: delay, rate_limited: e.retryAfterMs !== null }, 'notification not sent; will retry');
  }
}

class DeadlineError extends DeliveryError {}

/** Rejects when `promise` has not settled within `ms` (the promise itself is left to settle). */
export function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineError(`no answer within ${ms} ms`, false)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
