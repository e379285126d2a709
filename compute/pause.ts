// The node's pause: whether the person at the workstation (or the idle policy) has taken
// the machine back, who, since when and until when. While it lasts every job this daemon
// runs is stopped — the runner's handle sends SIGSTOP to the job's whole process group and
// stops its time limit — and so is every attempt that starts meanwhile (an attempt placed
// just before the pause is handed to `track` as soon as it exists, before its process does).
//
// The daemon ends a user's pause by itself at its deadline, whatever became of the terminal
// that asked; `resume` ends it early. A pause lasts `duration` (default 1 h) and never more
// than `max_pause`. An idle-policy pause has no deadline: the policy ends it when the
// machine is quiet. A user's pause overrides the policy's; the policy never ends a user's.
//
// Escalation (HTCondor's vacate): a job that has been stopped for `vacate_after` is handed
// back — `onVacate` listeners kill it here and tell the head, which runs it elsewhere.
import type { PauseSource } from '../shared/protocol/control.js';
import { formatDuration } from '../shared/spec/units.js';
import { silentLogger, type Logger } from '../shared/log.js';

/** What a pause acts on: a running attempt (compute/runner.ts RunningAttempt fits). */
export interface Pausable {
  pause(): void;
  resume(): void;
  /** the job's process group id, once it runs (for the idle policy's measure) */
  readonly pid?: number | null;
}

/** Wall time (epoch ms) and timers; tests pass a fake. */
export interface WallClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: WallClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export const DEFAULT_PAUSE_MS = 3600_000;
/** setTimeout's longest delay; longer waits are armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface PauseState {
  paused: boolean;
  by: string | null;
  source: PauseSource | null;
  /** epoch ms */
  since: number | null;
  /** epoch ms; null: no deadline (idle policy) */
  until: number | null;
}

const NOT_PAUSED: PauseState = { paused: false, by: null, source: null, since: null, until: null };

/** A pause request the daemon will not honour (a duration above max_pause, ...). */
export class PauseRefused extends Error {
  override name = 'PauseRefused';
}

export interface PauseControllerOptions {
  /** the longest pause anyone may ask for (compute.yaml max_pause) */
  maxPauseMs: number;
  /** a pause without a duration; capped by maxPauseMs */
  defaultPauseMs?: number;
  /** a job stopped this long is handed back (compute.yaml vacate_after); null: never */
  vacateAfterMs?: number | null;
  clock?: WallClock;
  logger?: Logger;
}

export interface TrackedJob {
  attempt: number;
  /** `namespace/batch/job`, for status and logs */
  job: string;
  paused: boolean;
  /** epoch ms of the vacate, while one is armed */
  vacateAt: number | null;
}

interface Tracked {
  job: string;
  /** a batch's initialize step: stopped and resumed with the jobs, never vacated */
  build: boolean;
  target: Pausable;
  paused: boolean;
  vacateAt: number | null;
  vacateTimer: Timer | null;
}

export interface PauseRequest {
  by: string;
  source: PauseSource;
  /** the user's --duration; null/undefined: the default */
  durationMs?: number | null;
}

export class PauseController {
  private st: PauseState = NOT_PAUSED;
  /** jobs by attempt id; builds under negative keys */
  private readonly tracked = new Map<number, Tracked>();
  private nextBuildKey = -1;
  private deadline: Timer | null = null;
  private readonly changeListeners: ((s: PauseState) => void)[] = [];
  private readonly vacateListeners: ((attempt: number, job: string) => void)[] = [];
  private readonly clock: WallClock;
  private readonly log: Logger;
  readonly maxPauseMs: number;
  readonly defaultPauseMs: number;
  readonly vacateAfterMs: number | null;

  constructor(o: PauseControllerOptions) {
    this.clock = o.clock ?? systemClock;
    this.log = o.logger ?? silentLogger();
    this.maxPauseMs = o.maxPauseMs;
    this.defaultPauseMs = Math.min(o.defaultPauseMs ?? DEFAULT_PAUSE_MS, o.maxPauseMs);
    this.vacateAfterMs = o.vacateAfterMs ?? null;
  }

  get state(): PauseState {
    return this.st;
  }

  get paused(): boolean {
    return this.st.paused;
  }

  /** Called with the new state whenever the pause starts, changes hands or ends. */
  onChange(fn: (s: PauseState) => void): void {
    this.changeListeners.push(fn);
  }

  /** Called when a job has been stopped for vacate_after: kill it and hand it back. */
  onVacate(fn: (attempt: number, job: string) => void): void {
    this.vacateListeners.push(fn);
  }

  /** The duration a request gets, or why it is refused. */
  durationFor(requestedMs: number | null | undefined): number {
    if (requestedMs === null || requestedMs === undefined) return this.defaultPauseMs;
    if (!(requestedMs > 0)) throw new PauseRefused(`a pause must last longer than 0 (asked: ${requestedMs} ms)`);
    if (requestedMs > this.maxPauseMs) {
      throw new PauseRefused(`a pause of ${formatDuration(requestedMs)} is longer than this node allows (max_pause ${formatDuration(this.maxPauseMs)})`);
    }
    return requestedMs;
  }

  /**
   * Pauses the node (or, already paused, hands the pause to this request: a user's new
   * deadline replaces the old one). Every tracked job is stopped before this returns.
   * Returns true when something changed.
   */
  pause(req: PauseRequest): boolean {
    const now = this.clock.now();
    if (req.source === 'idle_policy') {
      if (this.st.paused) return false;
      this.st = { paused: true, by: req.by, source: 'idle_policy', since: now, until: null };
    } else {
      const duration = this.durationFor(req.durationMs);
      this.st = { paused: true, by: req.by, source: 'user', since: this.st.since ?? now, until: now + duration };
    }
    for (const [attempt, t] of this.tracked) this.stop(attempt, t);
    this.armDeadline();
    this.log.info(
      { event: 'paused', by: this.st.by, source: this.st.source, until: iso(this.st.until), jobs: this.tracked.size },
      `node paused by ${this.st.by}${this.st.until === null ? '' : ` until ${iso(this.st.until)}`}`,
    );
    this.emit();
    return true;
  }

  /** Names who paused the node, once known better than when the pause was taken. */
  setRequester(by: string): void {
    if (!this.st.paused || this.st.by === by) return;
    this.st = { ...this.st, by };
    this.emit();
  }

  /**
   * Ends the pause: every job continues. The idle policy ends only its own pauses.
   * Returns true when the node was paused and now is not.
   */
  resume(by: string, source: PauseSource | 'deadline'): boolean {
    if (!this.st.paused) return false;
    if (source === 'idle_policy' && this.st.source !== 'idle_policy') return false;
    const was = this.st;
    this.st = NOT_PAUSED;
    this.clearDeadline();
    for (const t of this.tracked.values()) this.cont(t);
    this.log.info(
      { event: 'resumed', by, source, paused_by: was.by, paused_ms: was.since === null ? null : this.clock.now() - was.since, jobs: this.tracked.size },
      source === 'deadline' ? 'node resumed at its deadline' : `node resumed by ${by}`,
    );
    this.emit();
    return true;
  }

  /**
   * Takes a job under the pause: stopped at once if the node is paused, and with every later
   * pause and resume. Call it as soon as the attempt's handle exists; the returned function
   * lets go of it (when the job has ended).
   */
  track(attempt: number, job: string, target: Pausable): () => void {
    return this.take(attempt, { job, build: false, target, paused: false, vacateAt: null, vacateTimer: null });
  }

  /** As track, for a batch's initialize step (`namespace/batch`), which the pause stops too. */
  trackBuild(batch: string, target: Pausable): () => void {
    return this.take(this.nextBuildKey--, { job: batch, build: true, target, paused: false, vacateAt: null, vacateTimer: null });
  }

  private take(attempt: number, t: Tracked): () => void {
    this.tracked.set(attempt, t);
    if (this.st.paused) this.stop(attempt, t);
    return () => {
      if (this.tracked.get(attempt) !== t) return;
      this.clearVacate(t);
      this.tracked.delete(attempt);
    };
  }

  /** Process groups of the tracked jobs that run. */
  groups(): Set<number> {
    const out = new Set<number>();
    for (const t of this.tracked.values()) if (typeof t.target.pid === 'number') out.add(t.target.pid);
    return out;
  }

  jobs(): TrackedJob[] {
    return [...this.tracked].filter(([, t]) => !t.build).map(([attempt, t]) => ({ attempt, job: t.job, paused: t.paused, vacateAt: t.vacateAt }));
  }

  /** Stops the timers (the daemon is stopping); the jobs are the runner's to end. */
  close(): void {
    this.clearDeadline();
    for (const t of this.tracked.values()) this.clearVacate(t);
  }

  private stop(attempt: number, t: Tracked): void {
    if (t.paused) return;
    t.paused = true;
    t.target.pause();
    if (this.vacateAfterMs === null || t.build) return;
    t.vacateAt = this.clock.now() + this.vacateAfterMs;
    t.vacateTimer = timerAt(this.clock, t.vacateAt, () => {
      t.vacateTimer = null;
      if (!t.paused || this.tracked.get(attempt) !== t) return;
      this.log.warn({ event: 'vacate', attempt, job: t.job, vacate_after_ms: this.vacateAfterMs }, `job ${t.job} paused for vacate_after; handing it back`);
      for (const fn of this.vacateListeners) fn(attempt, t.job);
    });
  }

  private cont(t: Tracked): void {
    if (!t.paused) return;
    t.paused = false;
    this.clearVacate(t);
    t.target.resume();
  }

  private clearVacate(t: Tracked): void {
    t.vacateTimer?.cancel();
    t.vacateTimer = null;
    t.vacateAt = null;
  }

  private armDeadline(): void {
    this.clearDeadline();
    const until = this.st.until;
    if (until === null) return;
    this.deadline = timerAt(this.clock, until, () => {
      this.deadline = null;
      if (this.st.until === until) this.resume('deadline', 'deadline');
    });
  }

  private clearDeadline(): void {
    this.deadline?.cancel();
    this.deadline = null;
  }

  private emit(): void {
    for (const fn of this.changeListeners) {
      try {
        fn(this.st);
      } catch (err) {
        this.log.error({ event: 'pause_listener_failed', err }, 'a pause listener failed');
      }
    }
  }
}

interface Timer {
  cancel(): void;
}

/** Calls fn at the wall time `at`, waiting in steps when that is beyond setTimeout's range. */
function timerAt(clock: WallClock, at: number, fn: () => void): Timer {
  let handle: unknown = null;
  const arm = () => {
    const wait = at - clock.now();
    if (wait <= 0) {
      handle = null;
      fn();
      return;
    }
    handle = clock.setTimeout(arm, Math.min(wait, MAX_TIMER_MS));
  };
  handle = clock.setTimeout(arm, Math.min(Math.max(0, at - clock.now()), MAX_TIMER_MS));
  return {
    cancel: () => {
      if (handle !== null) clock.clearTimeout(handle);
      handle = null;
    },
  };
}

export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
