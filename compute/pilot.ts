// A pilot's life (a compute daemon started by an allocation queue's sbatch script): it
// leaves by itself after `idle_timeout` with nothing to run and no result to deliver, and
// shortly before its walltime's end, so it hands back what still runs (the head places no
// job there whose time limit would not fit, so that is only a job that overran) instead of
// being killed by the batch system with results unsent.
import type { Logger } from '../shared/log.js';
import { formatDuration } from '../shared/spec/units.js';

export interface PilotLimits {
  idleTimeoutMs: number;
  /** the walltime's end, ms since the epoch */
  endsAt: number;
}

/** Leaves this long before the walltime's end: the stop's result flush fits in it. */
export const END_MARGIN_MS = 20_000;

/** Resolves with why the pilot should stop now. */
export function pilotEnd(idle: () => boolean, limits: PilotLimits, log: Logger, now: () => number = Date.now): { done: Promise<string>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<string>((resolve) => {
    let idleSince = now();
    const check = () => {
      const t = now();
      if (t >= limits.endsAt - END_MARGIN_MS) return resolve('its walltime ends');
      if (!idle()) idleSince = t;
      else if (t - idleSince >= limits.idleTimeoutMs) return resolve(`idle for ${formatDuration(limits.idleTimeoutMs)}`);
      timer = setTimeout(check, Math.min(1000, Math.max(100, limits.idleTimeoutMs / 10)));
    };
    log.info({ event: 'pilot', idle_timeout_ms: limits.idleTimeoutMs, ends_at: new Date(limits.endsAt).toISOString() }, 'running as a pilot: leaving when idle and before the walltime ends');
    check();
  });
  return { done, cancel: () => clearTimeout(timer) };
}
