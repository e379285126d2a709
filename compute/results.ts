// Results of attempts waiting for the head. An attempt that finished here is recorded in the
// spool's journal (`<work_dir>/.spool/journal`, naming its workspace), and its result is
// packed from the workspace (pack.ts: one tar, gzip'd when that pays, the job's
// `distribute_save/` content at the top level, `_distribute/` beside it) as it is streamed to the
// head (`PUT /v1/results/:attempt`), or, when small and the node is connected, sent whole in a
// `result` message on the node's WebSocket (no HTTP request per job; the same answers). The workspace and the spool entry are deleted only after
// the head's 200 (the result is on its disk). A 409 means the attempt is stale, a 400 that the
// head will never take this archive: either way it is discarded. Anything else (the head away,
// a token refused, a 5xx) keeps it and tries again with backoff; a daemon that restarts finds
// its spool and carries on, so a result is never lost between node and head.
//
// The archive is not written to the node's disk first: the workspace it is made from stays
// until the head has the result, so packing again for a retry gives the same archive. (A
// spool of an earlier version holds `<attempt>.json` and `<attempt>.tar.gz` files; those are
// recovered and sent as they are.) The head's 200 gives a small attempt's folder back to the
// workspace pool (workspace-pool.ts) rather than deleting it.
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { readdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errorMessage } from '../shared/errors.js';
import { silentLogger, type Logger } from '../shared/log.js';
import { authorization, fetchFailure, putBody, type HeadEndpoint, type PutBody } from '../shared/head-http.js';
import { packResult } from './pack.js';
import type { WorkspacePool } from './workspace-pool.js';
import { API, pathFor } from '../shared/protocol/http-api.js';

export interface UploaderOptions {
  /** first retry delay; doubles up to maxRetryMs, with jitter */
  retryMs?: number;
  maxRetryMs?: number;
  /** at most this many uploads at once */
  concurrency?: number;
  logger?: Logger;
  /** where emptied attempt folders go for reuse (workspace-pool.ts) instead of being deleted */
  pool?: WorkspacePool;
  /** sends a small packed result over the node's connection; null when not connected (then HTTP) */
  direct?: DirectSend;
}

/** Sends a result archive and resolves with the head's answer, as an HTTP status and text. */
export type DirectSend = (attempt: number, archive: Buffer) => Promise<{ status: number; text: string }> | null;

interface Spooled {
  attempt: number;
  /** the attempt's workspace, removed with the spool entry once the head has the result */
  workspace: string;
  failures: number;
  /** packed small enough to be removed at once, without the thread pool */
  small: boolean;
}

/** The spool of results waiting for the head, and the worker that uploads them. */
export class ResultSpool {
  private readonly entries = new Map<number, Spooled>();
  private readonly queue: number[] = [];
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly uploading = new Set<number>();
  private readonly discarded = new Set<number>();
  private stopped = false;
  private readonly log: Logger;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  private readonly concurrency: number;
  private idleWaiters: (() => void)[] = [];
  /** callers of flushOnce waiting for an attempt's next upload outcome */
  private outcomeWaiters = new Map<number, (() => void)[]>();
  private readonly pool: WorkspacePool | null;
  private journal: SpoolJournal | null = null;
  private readonly direct: DirectSend | null;
  /** attempts found in an earlier version's spool files */
  private readonly legacy = new Set<number>();

  constructor(
    readonly dir: string,
    private readonly head: HeadEndpoint,
    opts: UploaderOptions = {},
  ) {
    this.log = opts.logger ?? silentLogger();
    this.retryMs = opts.retryMs ?? 1000;
    this.maxRetryMs = opts.maxRetryMs ?? 30_000;
    // small results go as messages the head commits in groups: more at once make bigger groups
    this.concurrency = opts.concurrency ?? 8;
    this.pool = opts.pool ?? null;
    this.direct = opts.direct ?? null;
  }

  private openJournal(): SpoolJournal {
    this.journal ??= new SpoolJournal(this.dir);
    return this.journal;
  }

  /** where an earlier version of the daemon spooled a packed archive */
  private legacyArchivePath(attempt: number): string {
    return join(this.dir, `${attempt}.tar.gz`);
  }

  private sidecarPath(attempt: number): string {
    return join(this.dir, `${attempt}.json`);
  }

  /** The workspace of an attempt whose result waits in the spool. */
  workspaceOf(attempt: number): string | null {
    return this.entries.get(attempt)?.workspace || null;
  }

  /** Attempts whose results wait for the head's acknowledgement (hello's `unacknowledged`). */
  pending(): number[] {
    return [...this.entries.keys()].sort((a, b) => a - b);
  }

  /**
   * Finds the results a previous run of the daemon left in the spool, and queues them; they go
   * at the next `kick` (the head's welcome, which may first name some of them stale).
   */
  async recover(): Promise<number[]> {
    mkdirSync(this.dir, { recursive: true });
    const found = readJournal(this.dir);
    // an earlier version's spool: `<attempt>.json` naming the workspace, `<attempt>.tar.gz` packed
    const names = await readdir(this.dir);
    for (const name of names) {
      const packed = /^(\d+)\.tar\.gz$/.exec(name);
      const half = /^(\d+)\.json$/.exec(name);
      if (packed && !found.has(Number(packed[1]))) {
        const attempt = Number(packed[1]);
        found.set(attempt, await this.workspaceFromSidecar(attempt));
        this.legacy.add(attempt);
      } else if (half && !names.includes(`${half[1]}.tar.gz`) && !found.has(Number(half[1]))) {
        // that version died while packing: no result, so its workspace goes too
        const attempt = Number(half[1]);
        this.legacy.add(attempt);
        await this.remove(attempt, await this.workspaceFromSidecar(attempt), false);
      } else if (name.endsWith('.tmp')) {
        await rm(join(this.dir, name), { force: true });
      }
    }
    const journal = this.openJournal();
    for (const [attempt, workspace] of found) {
      journal.added(attempt, workspace);
      this.add(attempt, workspace, false);
    }
    journal.compact();
    const attempts = [...found.keys()].sort((a, b) => a - b);
    if (attempts.length) this.log.info({ event: 'spool_recovered', attempts }, 'results left from a previous run');
    return attempts;
  }

  private workspaceFromSidecar(attempt: number): Promise<string> {
    return readFile(this.sidecarPath(attempt), 'utf8')
      .then((t) => String((JSON.parse(t) as { workspace?: unknown }).workspace ?? ''))
      .catch(() => '');
  }

  /** Records the finished attempt in the spool and queues its upload. */
  async submit(attempt: number, workspace: string): Promise<void> {
    if (this.discarded.has(attempt)) {
      await this.remove(attempt, workspace, false);
      return;
    }
    this.openJournal().added(attempt, workspace);
    this.add(attempt, workspace);
  }

  /** Forgets an attempt's result (stale, or dropped by the head): archive and workspace go. */
  async discard(attempt: number, workspace?: string): Promise<void> {
    this.discarded.add(attempt);
    const entry = this.entries.get(attempt);
    if (this.uploading.has(attempt)) return; // the upload's end removes it
    this.forget(attempt);
    await this.remove(attempt, entry?.workspace ?? workspace ?? '', false);
  }

  /** Tries every waiting upload now (the head came back). */
  kick(): void {
    for (const [attempt, timer] of this.timers) {
      clearTimeout(timer);
      this.timers.delete(attempt);
      const e = this.entries.get(attempt);
      if (e) e.failures = 0;
      this.queue.push(attempt);
    }
    this.pump();
  }

  /** Resolves once nothing is queued, uploading or waiting to retry. */
  idle(): Promise<void> {
    if (this.entries.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /**
   * Tries every waiting upload once more, now; resolves when each has been stored, refused or
   * has failed again (a stopping daemon gives its results one last chance, without retrying).
   */
  async flushOnce(): Promise<void> {
    const waiting = this.pending();
    const outcomes = waiting.map(
      (attempt) => new Promise<void>((resolve) => this.outcomeWaiters.set(attempt, [...(this.outcomeWaiters.get(attempt) ?? []), resolve])),
    );
    this.kick();
    await Promise.all(outcomes);
  }

  private settled(attempt: number): void {
    const waiters = this.outcomeWaiters.get(attempt) ?? [];
    this.outcomeWaiters.delete(attempt);
    for (const w of waiters) w();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private add(attempt: number, workspace: string, now = true): void {
    if (this.entries.has(attempt)) return;
    this.entries.set(attempt, { attempt, workspace, failures: 0, small: false });
    this.queue.push(attempt);
    if (now) this.pump();
  }

  private forget(attempt: number): void {
    this.entries.delete(attempt);
    this.settled(attempt);
    const t = this.timers.get(attempt);
    if (t) clearTimeout(t);
    this.timers.delete(attempt);
    const i = this.queue.indexOf(attempt);
    if (i >= 0) this.queue.splice(i, 1);
    if (this.entries.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private pump(): void {
    while (!this.stopped && this.uploading.size < this.concurrency && this.queue.length > 0) {
      const attempt = this.queue.shift()!;
      if (!this.entries.has(attempt) || this.uploading.has(attempt)) continue;
      this.uploading.add(attempt);
      void this.uploadOne(attempt).finally(() => {
        this.uploading.delete(attempt);
        this.pump();
      });
    }
  }

  private async uploadOne(attempt: number): Promise<void> {
    const entry = this.entries.get(attempt)!;
    const outcome = await this.put(attempt);
    if (outcome.kind !== 'failed' || this.discarded.has(attempt)) {
      // one line per job is enough at info (`finished`); the head logs the result it archives
      if (outcome.kind === 'stored') this.log.debug({ event: 'result_uploaded', attempt, bytes: outcome.bytes }, 'result stored on the head');
      else if (outcome.kind === 'stale') this.log.warn({ event: 'result_stale', attempt, reason: outcome.reason }, 'the head refused a stale result; discarded');
      else if (outcome.kind === 'refused') this.log.error({ event: 'result_refused', attempt, reason: outcome.reason }, 'the head refused the result archive; discarded');
      await this.remove(attempt, entry.workspace, entry.small);
      this.forget(attempt);
      return;
    }
    entry.failures++;
    this.settled(attempt);
    const delay = Math.min(this.maxRetryMs, this.retryMs * 2 ** (entry.failures - 1));
    const wait = Math.round(delay / 2 + Math.random() * (delay / 2));
    this.log.warn({ event: 'result_upload_failed', attempt, reason: outcome.reason, retry_ms: wait }, 'result upload failed; will retry');
    if (this.stopped) return;
    this.timers.set(
      attempt,
      setTimeout(() => {
        this.timers.delete(attempt);
        this.queue.push(attempt);
        this.pump();
      }, wait),
    );
  }

  private async put(attempt: number): Promise<{ kind: 'stored'; bytes: number | null } | { kind: 'stale' | 'refused' | 'failed'; reason: string }> {
    const entry = this.entries.get(attempt)!;
    let body: PutBody;
    let contentType = 'application/gzip';
    const legacy = this.legacyArchivePath(attempt);
    const legacySize = this.legacy.has(attempt) ? await stat(legacy).then((s) => s.size, () => null) : null;
    if (legacySize !== null) {
      body = { open: () => createReadStream(legacy), size: legacySize };
    } else {
      try {
        const packed = packResult(entry.workspace);
        entry.small = packed.kind === 'buffer';
        body = packed.kind === 'buffer' ? { data: packed.data } : { writeTo: packed.writeTo };
        contentType = packed.kind === 'stream' && !packed.gzip ? 'application/x-tar' : 'application/gzip';
      } catch (err) {
        return { kind: 'stale', reason: `the attempt's workspace cannot be packed: ${errorMessage(err)}` };
      }
    }
    let res: { status: number; text: string };
    const sent = 'data' in body && this.direct ? this.direct(attempt, body.data) : null;
    try {
      res = sent ? await sent : await putBody(this.head.http + pathFor(API.resultPut, { attempt: String(attempt) }), { ...authorization(this.head), 'content-type': contentType }, body, this.head.ca);
    } catch (err) {
      return { kind: 'failed', reason: fetchFailure(err) };
    }
    const text = res.text;
    if (res.status === 200 || res.status === 201) return { kind: 'stored', bytes: 'data' in body ? body.data.length : 'size' in body ? (body.size ?? null) : null };
    if (res.status === 409) return { kind: 'stale', reason: text.slice(0, 300) };
    // the head will never take this archive as it is: keeping it would retry forever
    if (res.status === 400 || res.status === 413) return { kind: 'refused', reason: `${res.status} ${text.slice(0, 300)}` };
    return { kind: 'failed', reason: `${res.status} ${text.slice(0, 300)}` };
  }

  /**
   * Removes the workspace (or, small, gives it back to the pool), then the spool entry: a spool
   * entry outlives its workspace. A small one goes at once; a big one through the thread pool.
   */
  private async remove(attempt: number, workspace: string, small: boolean): Promise<void> {
    if (small) {
      if (workspace && !this.pool?.release(workspace)) {
        rmSync(workspace, { recursive: true, force: true });
        tryRmdir(dirname(workspace));
      }
    } else if (workspace) {
      await rm(workspace, { recursive: true, force: true });
      // the job's folder, once its last attempt is gone
      await rmdir(dirname(workspace)).catch(() => {});
    }
    this.openJournal().removed(attempt);
    if (this.legacy.delete(attempt)) {
      for (const f of [this.sidecarPath(attempt), this.legacyArchivePath(attempt)]) rmSync(f, { force: true });
    }
  }
}

function tryRmdir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty (another attempt of the job), or gone
  }
}

const JOURNAL = 'journal';
/** the journal is rewritten with only what still waits once this much was appended */
const COMPACT_BYTES = 4 * 1024 * 1024;

/** The attempts a spool folder's journal says wait for the head (tests, and `recover`). */
export function spooledAttempts(dir: string): number[] {
  return [...readJournal(dir).keys()].sort((a, b) => a - b);
}

/**
 * Attempts that wait for the head, as an append-only file: `+<attempt> <workspace as JSON>`
 * when one finished, `-<attempt>` when the head has it (or it was discarded). One write to an
 * open file per result, where a file per result cost an inode to make and one to delete.
 */
export function readJournal(dir: string): Map<number, string> {
  const pending = new Map<number, string>();
  let text = '';
  try {
    text = readFileSync(join(dir, JOURNAL), 'utf8');
  } catch {
    return pending;
  }
  for (const line of text.split('\n')) {
    const m = /^([+-])(\d+)(?: (.*))?$/.exec(line);
    if (!m) continue; // a line cut short by a crash
    if (m[1] === '-') {
      pending.delete(Number(m[2]));
      continue;
    }
    try {
      pending.set(Number(m[2]), String(JSON.parse(m[3] ?? '""')));
    } catch {
      // cut short
    }
  }
  return pending;
}

class SpoolJournal {
  private fd: number;
  private appended = 0;
  /** what the file says waits, kept here so a rewrite needs no reading */
  private readonly waiting = new Map<number, string>();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.fd = openSync(join(dir, JOURNAL), 'a');
  }

  added(attempt: number, workspace: string): void {
    if (this.appended > COMPACT_BYTES) this.compact();
    this.waiting.set(attempt, workspace);
    this.append(`+${attempt} ${JSON.stringify(workspace)}\n`);
  }

  removed(attempt: number): void {
    this.waiting.delete(attempt);
    this.append(`-${attempt}\n`);
  }

  /** Rewrites the journal with the waiting attempts only. */
  compact(): void {
    const file = join(this.dir, JOURNAL);
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, [...this.waiting].map(([attempt, workspace]) => `+${attempt} ${JSON.stringify(workspace)}\n`).join(''));
    renameSync(tmp, file);
    closeSync(this.fd);
    this.fd = openSync(file, 'a');
    this.appended = 0;
  }

  private append(line: string): void {
    this.appended += writeSync(this.fd, line);
  }
}
