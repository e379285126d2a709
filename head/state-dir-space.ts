// Whether the head's state dir has room. A write that fails for want of space (ENOSPC, EDQUOT,
// SQLite's "database or disk is full") starts an episode: logged once as "state dir full", at
// error level, however many writes fail during it. The episode ends, logged once as "state dir
// has space again", when the file system's free space (statfs, polled while full) grows clearly
// beyond the most it had during the episode: temp files of failing uploads come and go, and a
// small result that still fits is stored, and neither may end it (no "full"/"space" flapping).
// Its end asks for a scheduling pass: once the cluster has been waiting on the disk, nothing
// else may happen to ask for one.
import { statfsSync } from 'node:fs';
import type { Logger } from '../shared/log.js';
import { errorMessage } from '../shared/errors.js';

/** Growth of free space, beyond the most seen while full, that ends an episode. */
export const SPACE_AGAIN_BYTES = 4 * 1024 * 1024;
const POLL_MS = 1000;

/** Whether `err` says the disk (or the user's quota) is full. */
export function isDiskFull(err: unknown): boolean {
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return /database or disk is full|no space left on device|disk quota exceeded/i.test(errorMessage(err));
}

/** Free and total bytes of the file system holding `dir` (for the unprivileged user). */
export function freeSpace(dir: string): { free: number; total: number } {
  const s = statfsSync(dir);
  return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
}

export class StateDirSpace {
  private episode: { since: number; mostFree: number; timer: NodeJS.Timeout } | null = null;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
    /** called once when an episode ends */
    private readonly onSpace: () => void,
    private readonly pollMs = POLL_MS,
  ) {}

  get full(): boolean {
    return this.episode !== null;
  }

  /** Free and total bytes now; null when the file system cannot be asked. */
  space(): { free: number; total: number } | null {
    try {
      return freeSpace(this.dir);
    } catch {
      return null;
    }
  }

  /**
   * A write failed: when for want of space, starts an episode (logged once) and returns true;
   * any other error returns false and changes nothing.
   */
  failed(err: unknown, context: Record<string, unknown> = {}): boolean {
    if (!isDiskFull(err)) return false;
    if (this.episode) return true;
    const free = this.space()?.free ?? 0;
    const timer = setInterval(() => this.poll(), this.pollMs);
    timer.unref();
    this.episode = { since: Date.now(), mostFree: free, timer };
    this.log.error({ event: 'state_dir_full', state_dir: this.dir, free_bytes: free, err: errorMessage(err), ...context }, `state dir full: ${this.dir} has ${free} bytes free; results wait on their nodes until there is space`);
    return true;
  }

  stop(): void {
    if (this.episode) clearInterval(this.episode.timer);
    this.episode = null;
  }

  private poll(): void {
    const e = this.episode;
    const free = this.space()?.free;
    if (!e || free === undefined) return;
    if (free >= e.mostFree + SPACE_AGAIN_BYTES) this.end(free);
    else if (free > e.mostFree) e.mostFree = free;
  }

  private end(free: number): void {
    const e = this.episode!;
    clearInterval(e.timer);
    this.episode = null;
    this.log.info({ event: 'state_dir_space', state_dir: this.dir, free_bytes: free, full_ms: Date.now() - e.since }, `state dir has space again: ${this.dir} has ${free} bytes free`);
    this.onSpace();
  }
}
