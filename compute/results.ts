// Results of attempts: packed as one .tar.gz (the job's `distribute_save/` content at the top
// level, plus `_distribute/` with its logs and result.json) into the spool folder
// `<work_dir>/.spool/<attempt>.tar.gz`, then streamed to the head (`PUT /v1/results/:attempt`).
// The archive and the attempt's workspace are deleted only after the head's 200 (the result is
// on its disk). A 409 means the attempt is stale, a 400 that the head will never take this
// archive: either way it is discarded. Anything else (the head away, a token refused, a 5xx)
// keeps the archive and tries again with backoff; a daemon that restarts
// finds its spool and carries on, so a result is never lost between node and head.
import { createWriteStream, readlinkSync, type Stats } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { errorMessage } from '../shared/errors.js';
import { silentLogger, type Logger } from '../shared/log.js';
import { authorization, fetchFailure, putFile, type HeadEndpoint } from './http.js';

const SAVE = 'distribute_save';
const META = '_distribute';

/** The path a member takes in the archive: save content at the top level. */
function archived(path: string): string {
  return path.startsWith(`${SAVE}/`) ? path.slice(SAVE.length + 1) : path;
}

/**
 * Whether a file of the attempt goes into its archive: regular files, folders, and links that
 * stay inside the archive. The head refuses a whole archive with a link leaving it or a device,
 * so such members (a job's symlink to /etc, a FIFO) are left out here.
 */
function packable(root: string, path: string, stat: Stats): boolean {
  if (stat.isFile() || stat.isDirectory()) return true;
  if (!stat.isSymbolicLink()) return false;
  let target: string;
  try {
    target = readlinkSync(join(root, path));
  } catch {
    return false;
  }
  if (posix.isAbsolute(target)) return false;
  const resolved = posix.normalize(posix.join(posix.dirname(archived(path)), target));
  return resolved !== '..' && !resolved.startsWith('../');
}

/** Packs an attempt folder's results into `archive` (written to a temp file, then renamed). */
export async function packAttempt(root: string, archive: string): Promise<void> {
  const saved = await readdir(join(root, SAVE)).catch(() => [] as string[]);
  // the job's own `_distribute` in its save folder would collide with ours
  const entries = [...saved.filter((n) => n !== META).map((n) => `${SAVE}/${n}`), META];
  const prefix = `${SAVE}/`;
  const tmp = `${archive}.tmp`;
  const stream = tar.c(
    {
      gzip: true,
      cwd: root,
      portable: true,
      filter: (path, stat) => packable(root, path, stat as Stats),
      onWriteEntry(entry) {
        if (entry.path.startsWith(prefix)) entry.path = entry.path.slice(prefix.length);
        if (entry.linkpath?.startsWith(prefix)) entry.linkpath = entry.linkpath.slice(prefix.length);
      },
    },
    entries,
  );
  await pipeline(stream as unknown as NodeJS.ReadableStream, createWriteStream(tmp));
  const fh = await open(tmp, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, archive);
}

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
  /** the attempt's workspace, removed with the archive once the head has the result */
  workspace: string;
  failures: number;
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

  archivePath(attempt: number): string {
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

  /** Finds the results a previous run of the daemon left in the spool, and queues them. */
  async recover(): Promise<number[]> {
    await mkdir(this.dir, { recursive: true });
    const found: number[] = [];
    const names = await readdir(this.dir);
    for (const name of names) {
      const m = /^(\d+)\.tar\.gz$/.exec(name);
      const half = /^(\d+)\.json$/.exec(name);
      if (m) {
        const attempt = Number(m[1]);
        this.add(attempt, await this.workspaceFromSidecar(attempt));
        found.push(attempt);
      } else if (half && !names.includes(`${half[1]}.tar.gz`)) {
        // the previous run died while packing: no result, so its workspace goes too
        const attempt = Number(half[1]);
        await this.remove(attempt, await this.workspaceFromSidecar(attempt));
      } else if (name.endsWith('.tmp')) {
        await rm(join(this.dir, name), { force: true });
      }
    }
    if (found.length) this.log.info({ event: 'spool_recovered', attempts: found }, 'results left from a previous run');
    return found;
  }

  private workspaceFromSidecar(attempt: number): Promise<string> {
    return readFile(this.sidecarPath(attempt), 'utf8')
      .then((t) => String((JSON.parse(t) as { workspace?: unknown }).workspace ?? ''))
      .catch(() => '');
  }

  /** Packs the attempt's results into the spool and queues the upload. */
  async submit(attempt: number, workspace: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFile(this.sidecarPath(attempt), JSON.stringify({ workspace }) + '\n');
    await packAttempt(workspace, this.archivePath(attempt));
    if (this.discarded.has(attempt)) {
      await this.remove(attempt, workspace);
      return;
    }
    this.add(attempt, workspace);
  }

  /** Forgets an attempt's result (stale, or dropped by the head): archive and workspace go. */
  async discard(attempt: number, workspace?: string): Promise<void> {
    this.discarded.add(attempt);
    const entry = this.entries.get(attempt);
    if (this.uploading.has(attempt)) return; // the upload's end removes it
    this.forget(attempt);
    await this.remove(attempt, entry?.workspace ?? workspace ?? '');
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

  private add(attempt: number, workspace: string): void {
    if (this.entries.has(attempt)) return;
    this.entries.set(attempt, { attempt, workspace, failures: 0 });
    this.queue.push(attempt);
    this.pump();
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
      await this.remove(attempt, entry.workspace);
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

  private async put(attempt: number): Promise<{ kind: 'stored'; bytes: number } | { kind: 'stale' | 'refused' | 'failed'; reason: string }> {
    const file = this.archivePath(attempt);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (err) {
      return { kind: 'stale', reason: `archive missing: ${errorMessage(err)}` };
    }
    let res: { status: number; text: string };
    try {
      res = await putFile(`${this.head.http}/v1/results/${attempt}`, { ...authorization(this.head), 'content-type': 'application/gzip' }, file, this.head.ca);
    } catch (err) {
      return { kind: 'failed', reason: fetchFailure(err) };
    }
    const text = res.text;
    if (res.status === 200 || res.status === 201) return { kind: 'stored', bytes: size };
    if (res.status === 409) return { kind: 'stale', reason: text.slice(0, 300) };
    // the head will never take this archive as it is: keeping it would retry forever
    if (res.status === 400 || res.status === 413) return { kind: 'refused', reason: `${res.status} ${text.slice(0, 300)}` };
    return { kind: 'failed', reason: `${res.status} ${text.slice(0, 300)}` };
  }

  /** Removes the workspace, then the spooled files: a spool entry outlives its workspace. */
  private async remove(attempt: number, workspace: string): Promise<void> {
    if (workspace) {
      await rm(workspace, { recursive: true, force: true });
      // the job's folder, once its last attempt is gone
      await rmdir(dirname(workspace)).catch(() => {});
    }
    await rm(this.archivePath(attempt), { force: true });
    await rm(this.sidecarPath(attempt), { force: true });
  }
}
