// The utilisation samples of a time range, as `/v1/usage` answers and the dashboard draws
// them: per node, in time order, merged into steps so that a range gives at most
// MAX_POINTS points per node however long it is (docs/dashboard.md has the shape).
import type { Store } from '../store.js';

export const MAX_POINTS = 720;

export interface UsagePoint {
  /** start of the step (epoch ms) */
  at: number;
  /** cpus held by running jobs, averaged over the step */
  busy: number;
  /** the most held at one look in the step */
  peak: number;
}

export interface UsageNode {
  name: string;
  /** cpus the node offered (the largest in the range) */
  cpus: number;
  samples: UsagePoint[];
}

export interface Usage {
  since: number;
  until: number;
  /** the length of one point: the sampling interval, or a multiple of it for long ranges */
  step_ms: number;
  nodes: UsageNode[];
}

export function usageSince(store: Store, since: number, until: number): Usage {
  const span = store.stmt<{ span: number | null }>('SELECT MAX(span_ms) AS span FROM usage_samples WHERE at >= ?').get(since)?.span ?? 60_000;
  // one step fewer than the most: a range that does not start on a step touches one more
  const step = Math.max(span, Math.ceil((until - since) / (MAX_POINTS - 1) / span) * span);
  const rows = store
    .stmt<{ node: string; step_at: number; busy: number; peak: number; cpus: number }>(
      // % works on integers whatever the bound number's type (the driver binds a double)
      `SELECT node, at - (at % ?) AS step_at, AVG(busy) AS busy, MAX(peak) AS peak, MAX(cpus) AS cpus
         FROM usage_samples WHERE at >= ? AND at <= ? GROUP BY node, step_at ORDER BY node, step_at`,
    )
    .all(step, since, until);
  const nodes = new Map<string, UsageNode>();
  for (const r of rows) {
    let n = nodes.get(r.node);
    if (!n) nodes.set(r.node, (n = { name: r.node, cpus: 0, samples: [] }));
    n.cpus = Math.max(n.cpus, r.cpus);
    n.samples.push({ at: r.step_at, busy: Math.round(r.busy * 1000) / 1000, peak: r.peak });
  }
  return { since, until, step_ms: step, nodes: [...nodes.values()] };
}

/** The start of the newest sample, or null: the dashboard refetches when it moves. */
export function latestSample(store: Store): number | null {
  return store.stmt<{ at: number | null }>('SELECT MAX(at) AS at FROM usage_samples').get()?.at ?? null;
}
