// A time limit that counts only the time the job was allowed to run: while the job is
// paused (SIGSTOP) the clock stands still, so a workstation owner's pause never costs a job
// its time budget.

export interface Clock {
  /** milliseconds from an arbitrary origin, never going backwards */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** setTimeout's longest delay (about 24.8 days); longer limits are waited for in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export class ActiveTimeLimit {
  private usedMs = 0;
  private runningSince: number | null = null;
  private timer: unknown = null;
  private expired = false;

  /** `limitMs` null means no limit; the clock still counts active time. */
  constructor(
    private readonly limitMs: number | null,
    private readonly onExpire: () => void,
    private readonly clock: Clock = realClock,
  ) {}

  /** Starts (or resumes) counting. */
  start(): void {
    if (this.runningSince !== null || this.expired) return;
    this.runningSince = this.clock.now();
    this.arm();
  }

  private arm(): void {
    if (this.limitMs === null) return;
    const remaining = Math.max(0, this.limitMs - this.activeMs);
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      if (this.activeMs < this.limitMs!) {
        this.arm();
        return;
      }
      this.expired = true;
      this.stop();
      this.onExpire();
    }, Math.min(remaining, MAX_TIMER_MS));
  }

  /** Stops counting until the next start(). */
  stop(): void {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.runningSince !== null) {
      this.usedMs += this.clock.now() - this.runningSince;
      this.runningSince = null;
    }
  }

  /** Milliseconds counted so far. */
  get activeMs(): number {
    return this.usedMs + (this.runningSince === null ? 0 : this.clock.now() - this.runningSince);
  }

  get hasExpired(): boolean {
    return this.expired;
  }
}
