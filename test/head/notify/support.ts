// A real head store in a temp folder, seeded with batches and jobs straight in SQL, so the
// notification parts are tested before and apart from the head's request handlers.
import { openStore, type Store } from '../../../head/store.js';
import type { BatchRecord } from '../../../head/store.js';
import type { NotifyEvent } from '../../../shared/spec/types.js';
import { tempDir } from '../../helpers/cli.js';

export interface TestStore {
  store: Store;
  dir: string;
  cleanup: () => void;
}

export function testStore(now?: () => number): TestStore {
  const { dir, cleanup } = tempDir('distribute-notify-');
  const store = openStore(dir, now ? { now } : {});
  return { store, dir, cleanup: () => (store.close(), cleanup()) };
}

export interface SeedBatch {
  namespace?: string;
  name?: string;
  matrix?: string | null;
  notify?: NotifyEvent[];
  jobs?: number;
  created?: number;
  file?: string;
}

export function seedBatch(store: Store, b: SeedBatch = {}): number {
  const namespace = b.namespace ?? 'study';
  const name = b.name ?? 'sweep';
  const record: BatchRecord & { file?: string } = {
    kind: 'shell',
    initialize: { kind: 'shell', command: null, requiredFiles: [] },
    meta: {
      batch_name: name,
      namespace,
      matrix: b.matrix === undefined ? '@you:test' : b.matrix,
      capabilities: [],
      priority: 0,
      sort: 'none',
      nodes: null,
      retries: 0,
      notify: b.notify ?? ['end'],
    },
    ...(b.file ? { file: b.file } : {}),
  };
  return store.tx(() => {
    store.stmt('INSERT OR IGNORE INTO namespaces (name, owner, created) VALUES (?, ?, ?)').run(namespace, 'alice', 0);
    const batchId = Number(
      store.stmt('INSERT INTO batches (namespace, name, spec, owner, created) VALUES (?, ?, ?, ?, ?)').run(namespace, name, JSON.stringify(record), 'alice', b.created ?? store.now()).lastInsertRowid,
    );
    const shape = Number(store.stmt('INSERT INTO shapes (batch_id, cpus, memory, gpus, nodes) VALUES (?, 1, NULL, 0, NULL)').run(batchId).lastInsertRowid);
    for (let i = 0; i < (b.jobs ?? 3); i++) {
      const job = { name: `job${i}`, file: null, command: 'true', requiredFiles: [], resources: { cpus: 1, memory: null, gpus: 0, time: null } };
      store.stmt(`INSERT INTO jobs (batch_id, name, spec, shape_id, state) VALUES (?, ?, ?, ?, 'queued')`).run(batchId, job.name, JSON.stringify({ job, nodes: null, retries: 0 }), shape);
    }
    return batchId;
  });
}

/** Ends a job as the head would: an attempt on `node` with its exit, and the job's state. */
export function endJob(
  store: Store,
  batchId: number,
  name: string,
  state: 'done' | 'failed' | 'cancelled',
  opts: { exitCode?: number | null; signal?: string | null; error?: string | null; ended?: number } = {},
): void {
  const job = store.jobByName(batchId, name);
  if (!job) throw new Error(`no job ${name}`);
  const ended = opts.ended ?? store.now();
  const exit = opts.exitCode === undefined ? (state === 'done' ? 0 : state === 'failed' ? 1 : null) : opts.exitCode;
  const attempt = Number(
    store
      .stmt(`INSERT INTO attempts (job_id, number, node, state, cpus, memory, gpus, created, started, ended, exit_code, signal, error) VALUES (?, 1, 'ws1', 'archived', 1, NULL, '[]', ?, ?, ?, ?, ?, NULL)`)
      .run(job.id, ended, ended, ended, exit, opts.signal ?? null).lastInsertRowid,
  );
  store.stmt('UPDATE jobs SET state = ?, current_attempt = ?, attempt_count = 1, exit_code = ?, error = ? WHERE id = ?').run(state, attempt, exit, opts.error ?? null, job.id);
}

export function requeue(store: Store, batchId: number, name: string): void {
  store.stmt(`UPDATE jobs SET state = 'queued', exit_code = NULL, error = NULL WHERE batch_id = ? AND name = ?`).run(batchId, name);
}

export interface OutboxView {
  id: number;
  kind: string;
  recipient: string;
  body: string;
  state: string;
  attempts: number;
  next_at: number;
  last_error: string | null;
  event_id: string | null;
}

export function outbox(store: Store): OutboxView[] {
  return store.stmt<OutboxView>('SELECT id, kind, recipient, body, state, attempts, next_at, last_error, event_id FROM notify_outbox ORDER BY id').all();
}
