// What may happen to a running process group from outside: a time limit, a cancel, a pause.
// The group may not exist yet (files are still being placed) when a cancel or pause arrives;
// both are remembered and applied when it starts.
//
// Ending a group: SIGTERM (with SIGCONT, so a stopped job can act on it), then SIGKILL after
// a grace. When the leader exits, for whatever reason, the group gets a SIGKILL so no
// straggler (a backgrounded grandchild) outlives its job, as Slurm does at the end of a step.
import type { ProcessGroup } from './process-group.js';
import { ActiveTimeLimit, realClock, type Clock } from './time-limit.js';

export const DEFAULT_KILL_GRACE_MS = 10_000;

export class Supervision {
  private group: ProcessGroup | null = null;
  private killTimer: NodeJS.Timeout | null = null;
  private terminating = false;
  private finished = false;
  private cancelCalls = 0;
  private readonly limit: ActiveTimeLimit;
  /** why the group was cancelled; null unless cancel() was called before it finished */
  cancelReason: string | null = null;
  timedOut = false;
  paused = false;

  constructor(
    timeLimitMs: number | null,
    private readonly killGraceMs: number = DEFAULT_KILL_GRACE_MS,
    clock: Clock = realClock,
    private readonly onTimeLimit: () => void = () => {},
  ) {
    this.limit = new ActiveTimeLimit(timeLimitMs, () => {
      this.timedOut = true;
      this.onTimeLimit();
      this.terminate();
    }, clock);
  }

  get cancelled(): boolean {
    return this.cancelReason !== null;
  }

  /** Milliseconds the group has been running and not paused. */
  get activeMs(): number {
    return this.limit.activeMs;
  }

  /** Takes charge of a freshly spawned group. */
  attach(group: ProcessGroup): void {
    this.group = group;
    if (this.cancelled) {
      this.terminate();
      return;
    }
    if (this.paused) group.signal('SIGSTOP');
    else this.limit.start();
  }

  /** First call: SIGTERM, SIGKILL after the grace. A second call: SIGKILL at once. */
  cancel(reason: string): void {
    if (this.finished) return;
    this.cancelCalls++;
    if (this.cancelCalls === 1) {
      this.cancelReason = reason;
      if (this.group) this.terminate();
    } else {
      this.group?.signal('SIGKILL');
    }
  }

  pause(): void {
    if (this.finished || this.paused) return;
    this.paused = true;
    this.limit.stop();
    if (this.group && !this.terminating) this.group.signal('SIGSTOP');
  }

  resume(): void {
    if (this.finished || !this.paused) return;
    this.paused = false;
    if (this.group && !this.terminating) {
      this.group.signal('SIGCONT');
      this.limit.start();
    }
  }

  /** The leader has exited: stop every clock and kill what is left of the group. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.limit.stop();
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = null;
    this.group?.signal('SIGKILL');
  }

  private terminate(): void {
    const group = this.group;
    if (!group || this.terminating || this.finished) return;
    this.terminating = true;
    this.limit.stop();
    group.signal('SIGTERM');
    group.signal('SIGCONT');
    this.killTimer = setTimeout(() => {
      this.killTimer = null;
      if (!this.finished) group.signal('SIGKILL');
    }, this.killGraceMs);
  }
}
