// Notifications, as the head sees them: `startNotifications` at start (after the store is
// open), `batchChanged` in every transaction that changes the state of a batch's jobs, and
// `stop` at shutdown. Without `matrix:` in head.yaml nothing is queued (a batch that asks
// for a message is logged once instead); with it, a bad configuration or an unreachable
// homeserver is logged at start and messages wait in the outbox: the head schedules on.
//
// matrix-js-sdk is loaded only when `matrix:` is configured, so a head without it starts as
// fast as before.
import type { HeadConfig } from '../../shared/config.js';
import type { Logger } from '../../shared/log.js';
import { parseBatchRecord, type Store } from '../store.js';
import { noteBatchChange } from './enqueue.js';
import { OutboxWorker, type OutboxOptions } from './outbox.js';
import type { MatrixCheck, MatrixSender } from './matrix.js';

export interface Notifications {
  /** the result of the start-up check (resolves once it is logged) */
  readonly checked: Promise<MatrixCheck>;
  readonly worker: OutboxWorker | null;
  stop(): Promise<void>;
}

interface Active {
  kick(): void;
  /** not configured: batches already warned about */
  warned?: Set<number>;
  log: Logger;
}

const active = new WeakMap<Store, Active>();

export interface NotificationOptions {
  logger: Logger;
  /** tests: faster backoff, shorter deadlines */
  outbox?: Omit<OutboxOptions, 'logger'>;
  requestTimeoutMs?: number;
}

export async function startNotifications(store: Store, config: HeadConfig['matrix'], opts: NotificationOptions): Promise<Notifications> {
  const log = opts.logger;
  if (!config) {
    active.set(store, { kick: () => undefined, warned: new Set(), log });
    const checked = Promise.resolve({ ok: true, message: 'matrix: not configured (no notifications are sent)' });
    return { checked, worker: null, stop: async () => void active.delete(store) };
  }
  const { MatrixSender, checkMatrix } = await import('./matrix.js');
  const { StoreMatrixMemory } = await import('./matrix-memory.js');
  const sender: MatrixSender = new MatrixSender(config, new StoreMatrixMemory(store), { logger: log, requestTimeoutMs: opts.requestTimeoutMs });
  const worker = new OutboxWorker(store, sender, { logger: log, ...opts.outbox });
  active.set(store, { kick: () => worker.kick(), log });
  worker.start();
  const checked = checkMatrix(config, { logger: log, sender, requestTimeoutMs: opts.requestTimeoutMs }).then((r) => {
    if (r.ok) log.info({ event: 'matrix_check', ok: true, homeserver: config.homeserver_url }, r.message);
    else log.warn({ event: 'matrix_check', ok: false, homeserver: config.homeserver_url }, `${r.message}; notifications wait in the outbox and are retried`);
    return r;
  });
  return {
    checked,
    worker,
    stop: async () => {
      active.delete(store);
      await worker.stop();
    },
  };
}

/**
 * Call inside every transaction that changes the state of jobs of this batch (a job done,
 * failed, cancelled, lost, requeued by retry): queues the batch's notification, in that same
 * transaction, when it ends or first fails. Cheap (index seeks) and idempotent; a no-op for a
 * store whose head did not start notifications (tests of other parts, `token create`).
 */
export function batchChanged(store: Store, batchId: number): void {
  const a = active.get(store);
  if (!a) return;
  if (a.warned) return warnUnconfigured(store, batchId, a);
  if (noteBatchChange(store, batchId).length > 0) a.kick();
}

function warnUnconfigured(store: Store, batchId: number, a: Active): void {
  if (a.warned!.has(batchId)) return;
  a.warned!.add(batchId);
  const batch = store.batch(batchId);
  const to = batch ? parseBatchRecord(batch).meta.matrix : null;
  if (batch && to) {
    a.log.warn({ event: 'notification_unconfigured', namespace: batch.namespace, batch: batch.name, matrix: to }, 'batch asks for Matrix notifications, but head.yaml has no matrix: section; none will be sent');
  }
}
