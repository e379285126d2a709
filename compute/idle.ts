// The optional idle policy (compute.yaml `idle_policy: {load_above, for, quiet_for}`): the
// node pauses by itself when the load that is not the cluster's stays above `load_above`
// cores for `for`, and resumes once it has stayed at or below that for `quiet_for`. The load
// is measured as compute/cpu-usage.ts says (CPU time, not the run-queue length of
// /proc/loadavg: a job stopped by the pause would still count there), sampled every
// min(for, quiet_for)/4, between 250 ms and 5 s.
//
// The policy never touches a pause a user made: while one lasts its clocks stand still, and
// when it ends the policy starts counting afresh.
import type { Logger } from '../shared/log.js';
import { silentLogger } from '../shared/log.js';
import type { PauseController } from './pause.js';
import { ForeignLoadMeter, type LoadSample } from './cpu-usage.js';

export interface IdlePolicy {
  /** cores busy with work that is not the cluster's */
  load_above: number;
  /** ms above that before the node pauses */
  for: number;
  /** ms at or below it before an idle-policy pause ends */
  quiet_for: number;
}

export type IdleAction = 'pause' | 'resume' | null;

/** The policy's clocks: pure, fed one sample at a time. */
export class IdleDecider {
  private aboveSince: number | null = null;
  private quietSince: number | null = null;

  constructor(private readonly policy: IdlePolicy) {}

  /**
   * One measured window. `pausedBy` is who holds the node paused now.
   * Returns what to do: pause, resume, or nothing.
   */
  observe(s: Pick<LoadSample, 'foreign' | 'from' | 'to'>, pausedBy: 'user' | 'idle_policy' | null): IdleAction {
    const above = s.foreign > this.policy.load_above;
    if (pausedBy === 'user') {
      this.aboveSince = this.quietSince = null;
      return null;
    }
    if (pausedBy === null) {
      this.quietSince = null;
      if (!above) {
        this.aboveSince = null;
        return null;
      }
      this.aboveSince ??= s.from;
      if (s.to - this.aboveSince < this.policy.for) return null;
      this.aboveSince = null;
      return 'pause';
    }
    this.aboveSince = null;
    if (above) {
      this.quietSince = null;
      return null;
    }
    this.quietSince ??= s.from;
    if (s.to - this.quietSince < this.policy.quiet_for) return null;
    this.quietSince = null;
    return 'resume';
  }
}

export function sampleEveryMs(p: IdlePolicy): number {
  return Math.min(5000, Math.max(250, Math.min(p.for, p.quiet_for) / 4));
}

export interface IdleMonitorOptions {
  policy: IdlePolicy;
  controller: PauseController;
  /** process groups of the jobs running here (their pids) */
  jobGroups: () => ReadonlySet<number>;
  meter?: Pick<ForeignLoadMeter, 'sample'>;
  everyMs?: number;
  logger?: Logger;
}

/** Samples the load on a timer and pauses or resumes the node as the policy says. */
export class IdleMonitor {
  private readonly decider: IdleDecider;
  private readonly meter: Pick<ForeignLoadMeter, 'sample'>;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** the last measured load that is not the cluster's, in cores */
  lastLoad: number | null = null;

  constructor(private readonly o: IdleMonitorOptions) {
    this.decider = new IdleDecider(o.policy);
    this.meter = o.meter ?? new ForeignLoadMeter();
    this.log = o.logger ?? silentLogger();
  }

  start(): void {
    this.stopped = false;
    this.log.info({ event: 'idle_policy', ...this.o.policy, every_ms: this.everyMs }, 'idle policy on');
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  status(): { load_above: number; for_ms: number; quiet_for_ms: number; load: number | null } {
    const p = this.o.policy;
    return { load_above: p.load_above, for_ms: p.for, quiet_for_ms: p.quiet_for, load: this.lastLoad === null ? null : Math.round(this.lastLoad * 100) / 100 };
  }

  private get everyMs(): number {
    return this.o.everyMs ?? sampleEveryMs(this.o.policy);
  }

  private async tick(): Promise<void> {
    try {
      const s = await this.meter.sample(this.o.jobGroups());
      if (s && !this.stopped) this.apply(s);
    } catch (err) {
      this.log.warn({ event: 'idle_sample_failed', err }, 'cannot measure the load');
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.everyMs);
  }

  private apply(s: LoadSample): void {
    this.lastLoad = s.foreign;
    const c = this.o.controller;
    const action = this.decider.observe(s, c.paused ? c.state.source : null);
    const load = Math.round(s.foreign * 100) / 100;
    if (action === 'pause') {
      this.log.info({ event: 'idle_pause', load, load_above: this.o.policy.load_above }, `load that is not the cluster's (${load} cores) stayed above ${this.o.policy.load_above}: pausing`);
      c.pause({ by: 'idle_policy', source: 'idle_policy' });
    } else if (action === 'resume') {
      this.log.info({ event: 'idle_resume', load }, 'the machine has been quiet: resuming');
      c.resume('idle_policy', 'idle_policy');
    }
  }
}
