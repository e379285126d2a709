// A pilot's time left, as the scheduler counts it: until its `usable_until` (the walltime's
// end less a drain margin). Unknown (not yet seen running) or ended: none at all, so nothing
// is placed there until the head knows when it ends.
import type { Store } from '../store.js';

/** Seconds a job placed now may run on the node; null: the node is not a pilot. */
export function pilotTimeLeft(store: Store, node: string): number | null {
  const p = store.stmt<{ usable_until: number | null }>('SELECT usable_until FROM pilots WHERE node = ?').get(node);
  if (!p) return null;
  return p.usable_until === null ? 0 : Math.max(0, (p.usable_until - store.now()) / 1000);
}

/** pilotTimeLeft of every pilot the head knows, by node name, in one query (a whole pass's nodes). */
export function pilotTimesLeft(store: Store): Map<string, number> {
  const now = store.now();
  const rows = store.stmt<{ node: string; usable_until: number | null }>('SELECT node, usable_until FROM pilots WHERE node IS NOT NULL').all();
  return new Map(rows.map((p) => [p.node, p.usable_until === null ? 0 : Math.max(0, (p.usable_until - now) / 1000)]));
}

/** What a pilot keeps back at the end of its walltime: 5% of it, between 30 s and 5 min. */
export function drainMarginMs(timeLimitMs: number): number {
  return Math.min(5 * 60_000, Math.max(30_000, timeLimitMs * 0.05));
}
