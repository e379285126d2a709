// The head's SQLite database: the only place state lives. WAL, so `distribute token create`
// can write while the head runs; every state change is one transaction (`tx`).
//
// Durability: `synchronous=NORMAL` in WAL mode survives a crash of the head at any instant
// (only a power cut can lose the last commits). Commits that something outside the head
// relies on — a result archive the node will delete once we answer 200, a batch the user
// was told is queued — are made durable before the answer is sent: `commitDurably` commits
// and then awaits `synced()`, an fsync of the WAL file in the thread pool. Those fsyncs are
// shared (group commit): every commit made before an fsync starts is covered by it, so many
// results arriving together cost one fsync, and the event loop never waits on the disk.
// `durably` (a synchronous commit with `synchronous=FULL`) is for the rare paths that cannot
// wait asynchronously.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Growth, Meta, JobKind } from '../shared/spec/types.js';
import type { NodeResources, WireInitialize, WireJob } from '../shared/protocol/common.js';
import type { JobState } from '../shared/protocol/common.js';
import { coalesced } from './files.js';
import { MIGRATIONS, type Migration } from './migrations.js';

export const DB_FILE = 'distribute.db';

export type AttemptState = 'assigned' | 'running' | 'finished' | 'archived' | 'lost' | 'refused' | 'cancelled';

/**
 * The namespace of a batch still being queued in chunks (head/queue.ts) until its last chunk
 * commits: not a safe name, so no user's; status, the dashboard and the scheduler skip it.
 */
export const LOADING_NAMESPACE = '~loading';

/** What the head keeps of a batch (batches.spec). */
export interface BatchRecord {
  kind: JobKind;
  initialize: WireInitialize;
  meta: Meta;
  /** the batch file as the user named it at add (the pull line of a notification) */
  file?: string;
}

/** What the head keeps of a job (jobs.spec, as serializeJobRecord writes it). */
export interface JobRecord {
  job: WireJob;
  nodes: string[] | null;
  retries: number;
  /** memory_retry, time_retry: how the request grows after a failure for want of it */
  memoryRetry?: Growth;
  timeRetry?: Growth;
}

export interface TokenRow {
  hash: string;
  kind: 'user' | 'node';
  name: string;
  admin: number;
  created: number;
  pin_cpus: number | null;
  pin_memory: number | null;
  pin_gpus: number | null;
  pin_capabilities: string | null;
}

export interface BatchRow {
  id: number;
  namespace: string;
  name: string;
  spec: string;
  owner: string;
  created: number;
}

export interface JobRow {
  id: number;
  batch_id: number;
  name: string;
  spec: string;
  shape_id: number;
  state: JobState;
  current_attempt: number | null;
  attempt_count: number;
  losses: number;
  /** failed results requeued under the job's `retries` */
  failures: number;
  exit_code: number | null;
  node: string | null;
  error: string | null;
  /** seconds; null = no limit (the `sort` key) */
  time_limit: number | null;
  /** 1: queued but waiting for other jobs (migration 13) */
  blocked: number;
  /** 1: the batch's finalize step */
  finalize: number;
  /** the dependency whose end cancelled this job */
  cancelled_by: number | null;
}

export interface AttemptRow {
  id: number;
  job_id: number;
  number: number;
  node: string;
  state: AttemptState;
  cpus: number;
  memory: number | null;
  gpus: string;
  created: number;
  started: number | null;
  ended: number | null;
  exit_code: number | null;
  signal: string | null;
  error: string | null;
  /** what it used, from its result.json (migration 8); null when not measured */
  cpu_seconds: number | null;
  peak_memory: number | null;
  wall_seconds: number | null;
}

export interface NodeRow {
  name: string;
  capabilities: string;
  resources: string;
  max_jobs: number | null;
  state: 'online' | 'lost';
  paused: number;
  /** the node itself is stopping */
  draining: number;
  /** an admin drained it (`distribute drain`): no new jobs until `undrain` */
  drained: number;
  last_seen: number;
  first_seen: number;
}

export interface InputRow {
  hash: string;
  size: number;
  path: string;
  created: number;
}

export interface StoreOptions {
  /** clock, for tests */
  now?: () => number;
}

/** Most works of `commitInTurn` in one transaction (one turn of the event loop). */
export const COMMIT_TURN_MAX = 256;

export class Store {
  readonly now: () => number;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly commitListeners: (() => void)[] = [];
  private readonly walSync = coalesced(() => this.fsyncWal());

  constructor(readonly db: Database.Database, opts: StoreOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  /** A prepared statement, compiled once per SQL text. */
  stmt<R = unknown>(sql: string): Database.Statement<unknown[], R> {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s as Database.Statement<unknown[], R>;
  }

  /** Runs fn in one IMMEDIATE transaction (takes the write lock at once: no upgrade deadlock). */
  tx<T>(fn: () => T): T {
    const result = this.db.transaction(fn).immediate();
    for (const listener of this.commitListeners) listener();
    return result;
  }

  /** Calls `listener` after every committed transaction: state changed (the dashboard pushes on it). */
  onCommit(listener: () => void): void {
    this.commitListeners.push(listener);
  }

  /** Like `tx`, but the commit is fsynced before this returns (see the header). */
  durably<T>(fn: () => T): T {
    this.db.pragma('synchronous = FULL');
    try {
      return this.tx(fn);
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  /**
   * Resolves once every commit made before this call is on disk: one fsync of the WAL in the
   * thread pool, shared with everyone who asks while it is under way. A caller that arrives
   * while an fsync runs waits for the next one (the running one may have started before its
   * commit).
   */
  synced(): Promise<void> {
    return this.walSync();
  }

  /** `tx`, then waits until the commit is on disk (see the header). */
  async commitDurably<T>(fn: () => T): Promise<T> {
    const out = this.tx(fn);
    await this.synced();
    return out;
  }

  private turn: { fn: () => unknown; resolve: (v: unknown) => void; reject: (err: unknown) => void }[] = [];

  /**
   * `commitDurably` for work that comes many at a time (the results of a turn): `fn` runs at
   * the end of this turn of the event loop with every other one queued in it, in one
   * transaction and one commit, each in its own savepoint (one that throws is rolled back and
   * rejected alone), and all resolve after one shared fsync. `fn` runs later than the call:
   * it must check for itself what it relies on.
   */
  commitInTurn<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.turn.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (this.turn.length === 1) setImmediate(() => this.commitTurn());
    });
  }

  private commitTurn(): void {
    // a turn's transaction is bounded: thousands of results waiting at once would hold the
    // loop for as many savepoints; the rest go in the next turns, each with its own commit
    const all = this.turn.length > COMMIT_TURN_MAX ? this.turn.splice(0, COMMIT_TURN_MAX) : this.turn;
    if (all === this.turn) this.turn = [];
    else setImmediate(() => this.commitTurn());
    const outcomes: ({ ok: true; value: unknown } | { ok: false; err: unknown })[] = [];
    try {
      this.tx(() => {
        for (const w of all) {
          try {
            outcomes.push({ ok: true, value: this.db.transaction(w.fn)() });
          } catch (err) {
            outcomes.push({ ok: false, err });
          }
        }
      });
    } catch (err) {
      for (const w of all) w.reject(err);
      return;
    }
    this.synced().then(
      () => all.forEach((w, i) => {
        const o = outcomes[i]!;
        if (o.ok) w.resolve(o.value);
        else w.reject(o.err);
      }),
      (err: unknown) => all.forEach((w) => w.reject(err)),
    );
  }

  private async fsyncWal(): Promise<void> {
    if (this.db.memory) return;
    // in WAL mode a commit lives in the -wal file until a checkpoint, and a checkpoint syncs
    // the database file itself; the WAL exists as long as this connection is open
    const fh = await open(`${this.db.name}-wal`, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  close(): void {
    this.statements.clear();
    if (this.db.open) this.db.close();
  }

  // --- reads used everywhere -------------------------------------------------------------

  token(hash: string): TokenRow | undefined {
    return this.stmt<TokenRow>('SELECT * FROM tokens WHERE hash = ?').get(hash);
  }

  namespaceOwner(name: string): string | undefined {
    return this.stmt<{ owner: string }>('SELECT owner FROM namespaces WHERE name = ?').get(name)?.owner;
  }

  batch(id: number): BatchRow | undefined {
    return this.stmt<BatchRow>('SELECT * FROM batches WHERE id = ?').get(id);
  }

  batchByName(namespace: string, name: string): BatchRow | undefined {
    return this.stmt<BatchRow>('SELECT * FROM batches WHERE namespace = ? AND name = ?').get(namespace, name);
  }

  job(id: number): JobRow | undefined {
    return this.stmt<JobRow>('SELECT * FROM jobs WHERE id = ?').get(id);
  }

  jobByName(batchId: number, name: string): JobRow | undefined {
    return this.stmt<JobRow>('SELECT * FROM jobs WHERE batch_id = ? AND name = ?').get(batchId, name);
  }

  attempt(id: number): AttemptRow | undefined {
    return this.stmt<AttemptRow>('SELECT * FROM attempts WHERE id = ?').get(id);
  }

  node(name: string): NodeRow | undefined {
    return this.stmt<NodeRow>('SELECT * FROM nodes WHERE name = ?').get(name);
  }

  nodes(): NodeRow[] {
    return this.stmt<NodeRow>('SELECT * FROM nodes ORDER BY name').all();
  }

  input(hash: string): InputRow | undefined {
    return this.stmt<InputRow>('SELECT * FROM inputs WHERE hash = ?').get(hash);
  }

  /**
   * Attempts a node holds: those whose process may still run there (`ended IS NULL`: assigned,
   * running, or cancelled until the node says it ended) and finished ones awaiting their result.
   */
  liveAttemptsOn(node: string): AttemptRow[] {
    return this.stmt<AttemptRow>(
      `SELECT * FROM attempts WHERE node = ? AND ended IS NULL
       UNION ALL SELECT * FROM attempts WHERE node = ? AND state = 'finished' ORDER BY id`,
    ).all(node, node);
  }
}

/** Applies every migration newer than the database, each in its own transaction. */
export function migrate(db: Database.Database, migrations: Migration[] = MIGRATIONS): number {
  db.exec('CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied INTEGER NOT NULL)');
  const current = (db.prepare('SELECT MAX(version) AS v FROM migrations').get() as { v: number | null }).v ?? 0;
  const known = Math.max(0, ...migrations.map((m) => m.version));
  if (current > known) {
    throw new Error(`the database is at schema version ${current}, newer than this program knows (${known}); upgrade distribute`);
  }
  // every migration not yet applied, a lower number included: numbers are handed out ahead, so
  // one may arrive after a higher one has already run on this database
  const applied = new Set((db.prepare('SELECT version FROM migrations').all() as { version: number }[]).map((r) => r.version));
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO migrations (version, name, applied) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    }).immediate();
  }
  return known;
}

/** Opens (creating if needed) `<stateDir>/distribute.db`, migrated to the newest schema. */
export function openStore(stateDir: string, opts: StoreOptions = {}): Store {
  mkdirSync(stateDir, { recursive: true });
  const db = new Database(join(stateDir, DB_FILE));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    // the queue's hot pages (jobs, attempts, their indexes) stay in the process: SQLite's 2 MiB
    // default held a tenth of a 10,000-job batch, and every lookup beyond it was a read(2)
    db.pragma('cache_size = -32768');
    // another process (token create) may hold the write lock for a moment
    db.pragma('busy_timeout = 5000');
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return new Store(db, opts);
}

export function parseBatchRecord(row: BatchRow): BatchRecord {
  return JSON.parse(row.spec) as BatchRecord;
}

/**
 * jobs.spec is the JobRecord without what most jobs share: fields at their default (no file,
 * no command, no required files, 1 cpu, no memory, no GPU, no time limit, no pins, no
 * retries) are left out, and so is the name (the row's own column). A 100,000-job sweep of
 * one command writes half the bytes to the WAL (and fsyncs them) at add. `parseJobRecord`
 * fills them back, and reads rows written whole, before this form, alike.
 */
export function serializeJobRecord(r: JobRecord): string {
  const j = r.job;
  const job: Partial<Omit<WireJob, 'resources'>> & { resources?: Partial<WireJob['resources']> } = {};
  if (j.file !== null) job.file = j.file;
  if (j.command !== null) job.command = j.command;
  if (j.requiredFiles.length > 0) job.requiredFiles = j.requiredFiles;
  const { cpus, memory, gpus, time } = j.resources;
  if (cpus !== 1 || memory !== null || gpus !== 0 || time !== null) {
    job.resources = {};
    if (cpus !== 1) job.resources.cpus = cpus;
    if (memory !== null) job.resources.memory = memory;
    if (gpus !== 0) job.resources.gpus = gpus;
    if (time !== null) job.resources.time = time;
  }
  const out: { job: typeof job; nodes?: string[]; retries?: number; memoryRetry?: Growth; timeRetry?: Growth } = { job };
  if (r.nodes !== null) out.nodes = r.nodes;
  if (r.retries !== 0) out.retries = r.retries;
  if (r.memoryRetry) out.memoryRetry = r.memoryRetry;
  if (r.timeRetry) out.timeRetry = r.timeRetry;
  return JSON.stringify(out);
}

export function parseJobRecord(row: Pick<JobRow, 'name' | 'spec'>): JobRecord {
  const stored = JSON.parse(row.spec) as { job: Partial<Omit<WireJob, 'resources'>> & { resources?: Partial<WireJob['resources']> }; nodes?: string[] | null; retries?: number; memoryRetry?: Growth; timeRetry?: Growth };
  const j = stored.job;
  const r = j.resources ?? {};
  return {
    job: {
      name: row.name,
      file: j.file ?? null,
      command: j.command ?? null,
      requiredFiles: j.requiredFiles ?? [],
      resources: { cpus: r.cpus ?? 1, memory: r.memory ?? null, gpus: r.gpus ?? 0, time: r.time ?? null },
    },
    nodes: stored.nodes ?? null,
    retries: stored.retries ?? 0,
    ...(stored.memoryRetry ? { memoryRetry: stored.memoryRetry } : {}),
    ...(stored.timeRetry ? { timeRetry: stored.timeRetry } : {}),
  };
}

export function parseNodeResources(row: NodeRow): NodeResources {
  return JSON.parse(row.resources) as NodeResources;
}
