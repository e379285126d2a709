// Results of attempts waiting for the head. An attempt that finished here is recorded in the
// spool folder as `<work_dir>/.spool/<attempt>.json` (naming its workspace), and its result is
// packed from the workspace (pack.ts: one .tar.gz, the job's `distribute_save/` content at the
// top level, `_distribute/` with its logs and result.json beside it) as it is streamed to the
// head (`PUT /v1/results/:attempt`). The workspace and the spool entry are deleted only after
// the head's 200 (the result is on its disk). A 409 means the attempt is stale, a 400 that the
// head will never take this archive: either way it is discarded. Anything else (the head away,
// a token refused, a 5xx) keeps it and tries again with backoff; a daemon that restarts finds
// its spool and carries on, so a result is never lost between node and head.
//
// The archive is not written to the node's disk first: the workspace it is made from stays
// until the head has the result, so packing again for a retry gives the same archive. (A
// spool of an earlier version may hold `<attempt>.tar.gz` files; those are sent as they are.)
import { createReadStream, mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errorMessage } from '../shared/errors.js';
import { silentLogger, type Logger } from '../shared/log.js';
import { authorization, fetchFailure, putBody, type HeadEndpoint, type PutBody } from './http.js';
import { packResult } from './pack.js';

export interface UploaderOptions {
  /** first retry delay; doubles up to maxRetryMs, with jitter */
  retryMs?: number;
  maxRetryMs?: number;
  /** at most this many uploads at once */
  concurrency?: number;
  logger?: Logger;
}

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

  constructor(
    readonly dir: string,
    private readonly head: HeadEndpoint,
    opts: UploaderOptions = {},
  ) {
    this.log = opts.logger ?? silentLogger();
    this.retryMs = opts.retryMs ?? 1000;
    this.maxRetryMs = opts.maxRetryMs ?? 30_000;
    this.concurrency = opts.concurrency ?? 2;
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
    const found = new Set<number>();
    for (const name of await readdir(this.dir)) {
      const m = /^(\d+)\.(json|tar\.gz)$/.exec(name);
      if (m) found.add(Number(m[1]));
      else if (name.endsWith('.tmp')) await rm(join(this.dir, name), { force: true });
    }
    for (const attempt of found) {
      const workspace = await readFile(this.sidecarPath(attempt), 'utf8')
        .then((t) => String((JSON.parse(t) as { workspace?: unknown }).workspace ?? ''))
        .catch(() => '');
      this.add(attempt, workspace, false);
    }
    const attempts = [...found].sort((a, b) => a - b);
    if (attempts.length) this.log.info({ event: 'spool_recovered', attempts }, 'results left from a previous run');
    return attempts;
  }

  /** Records the finished attempt in the spool and queues its upload. */
  async submit(attempt: number, workspace: string): Promise<void> {
    if (this.discarded.has(attempt)) {
      await this.remove(attempt, workspace, false);
      return;
    }
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(this.sidecarPath(attempt), JSON.stringify({ workspace }) + '\n');
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
      if (outcome.kind === 'stored') this.log.info({ event: 'result_uploaded', attempt, bytes: outcome.bytes }, 'result stored on the head');
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
    const legacy = this.legacyArchivePath(attempt);
    const legacySize = await stat(legacy).then((s) => s.size, () => null);
    if (legacySize !== null) {
      body = { open: () => createReadStream(legacy), size: legacySize };
    } else {
      try {
        const packed = packResult(entry.workspace);
        entry.small = packed.kind === 'buffer';
        body = packed.kind === 'buffer' ? { data: packed.data } : { open: packed.open };
      } catch (err) {
        return { kind: 'stale', reason: `the attempt's workspace cannot be packed: ${errorMessage(err)}` };
      }
    }
    let res: { status: number; text: string };
    try {
      res = await putBody(`${this.head.http}/v1/results/${attempt}`, { ...authorization(this.head), 'content-type': 'application/gzip' }, body, this.head.ca);
    } catch (err) {
      return { kind: 'failed', reason: fetchFailure(err) };
    }
    const text = res.text;
    if (res.status === 200 || res.status === 201) return { kind: 'stored', bytes: 'data' in body ? body.data.length : (body.size ?? null) };
    if (res.status === 409) return { kind: 'stale', reason: text.slice(0, 300) };
    // the head will never take this archive as it is: keeping it would retry forever
    if (res.status === 400 || res.status === 413) return { kind: 'refused', reason: `${res.status} ${text.slice(0, 300)}` };
    return { kind: 'failed', reason: `${res.status} ${text.slice(0, 300)}` };
  }

  /**
   * Removes the workspace, then the spool entry: a spool entry outlives its workspace. A small
   * one goes at once (a few unlinks); a big one through the thread pool.
   */
  private async remove(attempt: number, workspace: string, small: boolean): Promise<void> {
    const spooled = [this.sidecarPath(attempt), this.legacyArchivePath(attempt)];
    if (small) {
      if (workspace) {
        rmSync(workspace, { recursive: true, force: true });
        tryRmdir(dirname(workspace));
      }
      for (const f of spooled) rmSync(f, { force: true });
      return;
    }
    if (workspace) {
      await rm(workspace, { recursive: true, force: true });
      // the job's folder, once its last attempt is gone
      await rmdir(dirname(workspace)).catch(() => {});
    }
    for (const f of spooled) await rm(f, { force: true });
  }
}

function tryRmdir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty (another attempt of the job), or gone
  }
}
