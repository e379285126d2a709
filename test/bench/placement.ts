// Benchmark (not a test): one placement — a job ends on a full cluster, the head's pass
// (snapshot from the store, the pure scheduler, one transaction) fills its slot — with 1k,
// 10k and 100k jobs queued, on a lab of 20 workstations (test/head/placement-scenario.ts).
// `placementSection()` returns the figures and prints them as a table (test/bench/run.ts);
// alone: `node --import tsx test/bench/placement.ts`.
import { buildSnapshot } from '../../head/snapshot.js';
import { place, type PlaceStats } from '../../head/scheduler.js';
import { applyPlacements } from '../../head/transitions.js';
import { endAJob, queuedCluster } from '../head/placement-scenario.js';
import { printTable } from './table.js';

export interface PlacementFigures {
  queued: number;
  nodes: number;
  passes: number;
  /** time to queue the jobs (one `add` transaction), seconds */
  queueSeconds: number;
  /** one pass, median and 95th percentile, milliseconds */
  passMs: { median: number; p95: number };
  /** median of each part of a pass, milliseconds */
  snapshotMs: number;
  placeMs: number;
  applyMs: number;
  /** per pass, on average (a 2-cpu job's end can make room for two 1-cpu jobs) */
  placed: number;
  candidates: number;
  nodeChecks: number;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

const round = (x: number, digits = 3) => +x.toFixed(digits);

export function measurePlacement(queued: number, o: { nodes?: number; passes?: number } = {}): PlacementFigures {
  const nodes = o.nodes ?? 20;
  const passes = o.passes ?? 200;
  const t0 = performance.now();
  const s = queuedCluster(queued, { nodes });
  const queueSeconds = (performance.now() - t0) / 1000;
  try {
    const total: number[] = [];
    const parts = { snapshot: [] as number[], place: [] as number[], apply: [] as number[] };
    const stats: PlaceStats = { candidates: 0, nodeChecks: 0 };
    let placed = 0;
    for (let k = 0; k < passes; k++) {
      endAJob(s, k);
      const a = performance.now();
      const snapshot = buildSnapshot(s.store, s.batches, s.connected);
      const b = performance.now();
      const placements = place(snapshot, stats);
      const c = performance.now();
      applyPlacements(s.store, placements);
      const d = performance.now();
      if (placements.length === 0) throw new Error(`pass ${k} placed nothing in the slot a job left`);
      placed += placements.length;
      parts.snapshot.push(b - a);
      parts.place.push(c - b);
      parts.apply.push(d - c);
      total.push(d - a);
    }
    return {
      queued,
      nodes,
      passes,
      queueSeconds: round(queueSeconds, 2),
      passMs: { median: round(quantile(total, 0.5)), p95: round(quantile(total, 0.95)) },
      snapshotMs: round(quantile(parts.snapshot, 0.5)),
      placeMs: round(quantile(parts.place, 0.5)),
      applyMs: round(quantile(parts.apply, 0.5)),
      placed: round(placed / passes, 2),
      candidates: round(stats.candidates / passes, 2),
      nodeChecks: round(stats.nodeChecks / passes, 2),
    };
  } finally {
    s.close();
  }
}

export function placementSection(sizes: number[] = [1_000, 10_000, 100_000]): PlacementFigures[] {
  const figures = sizes.map((n) => measurePlacement(n));
  printTable(
    `Placement: one job ends on a full cluster of ${figures[0]?.nodes ?? 0} nodes, one pass fills its slot`,
    ['queued', 'placed/pass', 'pass median ms', 'p95 ms', 'snapshot ms', 'place ms', 'commit ms', 'candidates/pass', 'node checks/pass', 'queueing s'],
    figures.map((f) => [
      String(f.queued),
      f.placed.toFixed(2),
      f.passMs.median.toFixed(3),
      f.passMs.p95.toFixed(3),
      f.snapshotMs.toFixed(3),
      f.placeMs.toFixed(3),
      f.applyMs.toFixed(3),
      f.candidates.toFixed(2),
      f.nodeChecks.toFixed(2),
      f.queueSeconds.toFixed(2),
    ]),
  );
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) placementSection();
