// What the head counts for `GET /metrics` (Prometheus text format 0.0.4). Gauges that the
// database knows (jobs and nodes by state, archived content) are read at scrape time; what
// only happens in memory (placement passes, archive bytes written) is counted here since
// the head started, as Prometheus counters and histograms expect.
//
//   distribute_jobs{state}                 gauge: jobs in each state (every state, zeros too)
//   distribute_nodes{state}                gauge: known nodes as `distribute nodes` shows them
//   distribute_placement_seconds           histogram: from the event that asks for placement
//                                          (add, finish, join, resume, kill, retry) to the end of
//                                          the scheduling pass that answers it
//   distribute_placements_total            counter: jobs placed
//   distribute_archive_bytes_total         counter: bytes of result archives written
//   distribute_archive_member_bytes        gauge: size of everything in the archive, unpacked
//   distribute_event_loop_delay_seconds{quantile}
//                                          gauge: how late the head's event loop ran, over the
//                                          last one to two minutes (quantile 0.5, 0.9, 0.99, 1)
//   distribute_state_dir_free_bytes       gauge: free bytes of the state dir's file system (statfs)
//   distribute_state_dir_size_bytes       gauge: its size
//   distribute_state_dir_full             gauge: 1 during a "state dir full" episode
//   distribute_head_info{version,protocol} 1

import type { LoopWatch } from './loop-watch.js';

export const PLACEMENT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.counts[i]!++;
  }
}

export class HeadMetrics {
  readonly placement = new Histogram(PLACEMENT_BUCKETS);
  placements = 0;
  archiveBytes = 0;

  /** `loop`: the head's event loop watch (absent in tests that count by hand) */
  constructor(readonly loop?: LoopWatch) {}

  /** A scheduling pass ended `seconds` after it was asked for, having placed `placed` jobs. */
  placementPass(seconds: number, placed: number): void {
    this.placement.observe(seconds);
    this.placements += placed;
  }

  /** A result archive of `bytes` was written to the archive. */
  archived(bytes: number): void {
    this.archiveBytes += bytes;
  }
}

/** One family in the text format: HELP, TYPE and its samples. */
export interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'counter' | 'histogram';
  samples: { suffix?: string; labels?: Record<string, string>; value: number }[];
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function renderFamilies(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = s.labels && Object.keys(s.labels).length ? `{${Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
      out.push(`${f.name}${s.suffix ?? ''}${labels} ${formatValue(s.value)}`);
    }
  }
  return out.join('\n') + '\n';
}

export function histogramFamily(name: string, help: string, h: Histogram): Family {
  return {
    name,
    help,
    type: 'histogram',
    samples: [
      ...h.buckets.map((le, i) => ({ suffix: '_bucket', labels: { le: String(le) }, value: h.counts[i]! })),
      { suffix: '_bucket', labels: { le: '+Inf' }, value: h.count },
      { suffix: '_sum', value: h.sum },
      { suffix: '_count', value: h.count },
    ],
  };
}
