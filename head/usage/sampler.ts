// Cluster utilisation over time, for the dashboard's chart and `/v1/usage`: the head looks at
// the cpus held by running jobs on each connected node 12 times per interval (through the
// jobs_queue index: the cost follows the running jobs, not the table), and at each
// interval's end writes one row per node with the mean and the peak. Rows older than
// `keepMs` go in the same transaction, so the table stays bounded at
// nodes × keep / interval rows.
import type { Logger } from '../../shared/log.js';
import { parseNodeResources, type Store } from '../store.js';

export const LOOKS_PER_INTERVAL = 12;

export interface UsageSamplerOptions {
  store: Store;
  /** nodes with a live session */
  connected: () => ReadonlySet<string>;
  intervalMs: number;
  keepMs: number;
  log: Logger;
  now?: () => number;
}

interface Tally {
  sum: number;
  looks: number;
  peak: number;
  cpus: number;
}

export class UsageSampler {
  private readonly tallies = new Map<string, Tally>();
  private bucket: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(private readonly o: UsageSamplerOptions) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    this.look();
    this.timer = setInterval(() => this.look(), Math.max(50, Math.floor(this.o.intervalMs / LOOKS_PER_INTERVAL)));
    this.timer.unref();
  }

  /** Stops looking and writes what the current interval has so far. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush();
  }

  /** One look at every connected node; an interval that ended is written first. */
  look(): void {
    try {
      const now = this.now();
      const bucket = now - (now % this.o.intervalMs);
      if (this.bucket !== null && bucket !== this.bucket) this.flush();
      this.bucket = bucket;
      const connected = this.o.connected();
      const held = new Map(
        this.o.store
          .stmt<{ node: string; cpus: number }>(
            // a job assigned ahead holds no cpu until its node says it started
            `SELECT a.node AS node, SUM(a.cpus) AS cpus FROM jobs j JOIN attempts a ON a.id = j.current_attempt
              WHERE j.state IN ('assigned', 'running') AND a.state = 'running' GROUP BY a.node`,
          )
          .all()
          .map((r) => [r.node, r.cpus]),
      );
      for (const row of this.o.store.nodes()) {
        if (!connected.has(row.name)) continue;
        const cpus = parseNodeResources(row).cpus;
        // a job assigned ahead starts the moment the one before it exits, and its `started`
        // may reach the head before the other's `finished`: never more than the node has
        const busy = Math.min(held.get(row.name) ?? 0, cpus);
        const t = this.tallies.get(row.name) ?? { sum: 0, looks: 0, peak: 0, cpus: 0 };
        t.sum += busy;
        t.looks += 1;
        t.peak = Math.max(t.peak, busy);
        t.cpus = cpus;
        this.tallies.set(row.name, t);
      }
    } catch (err) {
      // a closed store at shutdown, a busy database: this sample is lost, the head goes on
      this.o.log.warn({ event: 'usage_sample_failed', err: (err as Error).message }, 'could not take a utilisation sample');
    }
  }

  private flush(): void {
    if (this.bucket === null || this.tallies.size === 0) return;
    const at = this.bucket;
    const rows = [...this.tallies].map(([node, t]) => ({ node, busy: t.sum / t.looks, peak: t.peak, cpus: t.cpus }));
    this.tallies.clear();
    try {
      const put = this.o.store.stmt('INSERT OR REPLACE INTO usage_samples (at, node, span_ms, busy, peak, cpus) VALUES (?, ?, ?, ?, ?, ?)');
      const prune = this.o.store.stmt('DELETE FROM usage_samples WHERE at < ?');
      this.o.store.tx(() => {
        for (const r of rows) put.run(at, r.node, this.o.intervalMs, r.busy, r.peak, r.cpus);
        prune.run(at - this.o.keepMs);
      });
    } catch (err) {
      this.o.log.warn({ event: 'usage_sample_failed', err: (err as Error).message }, 'could not write utilisation samples');
    }
  }
}
