// Scale: `distribute add` of one batch of N trivial jobs into a head with two nodes (1 cpu
// each), for each N: the time from starting the CLI to it saying queued (the batch durable in
// the head's database), the head's peak resident memory, and the time of one scheduling pass
// while N jobs wait (the head logs each pass's `ms`: snapshot from SQLite, place, commit, send).
// Each N gets a fresh head, so the memory figure is that of this add alone.
import { BenchCluster, until, writeShellBatch } from './cluster.js';

export interface ScaleResult {
  jobs: number;
  /** from `distribute add` starting to it returning (client parse, upload, head parse, commit) */
  addSeconds: number;
  headRssAfterAdd: number;
  headPeakRss: number;
  /** median duration of a scheduling pass with ~N jobs queued, in ms */
  placementMs: number;
  passes: number;
}

/** Scheduling passes measured per N (the first ones place the jobs that start the nodes). */
const PASSES = 30;

export async function scaleRun(n: number, dir: string): Promise<ScaleResult> {
  const c = await BenchCluster.start({ nodes: [{ name: 'n1', cpus: 1 }, { name: 'n2', cpus: 1 }], prefix: `scale${n}-` });
  try {
    const file = writeShellBatch(dir, `scale${n}`, n);
    const start = process.hrtime.bigint();
    const add = await c.cli(['add', file], { timeoutMs: 300_000 });
    const addSeconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (add.code !== 0) throw new Error(`distribute add of ${n} jobs failed (${add.code}): ${add.stderr}`);
    const mem = await c.head.memory();
    // jobs run meanwhile, each end a pass; a few dozen of N queued jobs is still ~N queued
    const passes = await until(() => {
      const p = c.head.lines().filter((l) => l.event === 'scheduled').map((l) => Number(l.ms));
      return p.length >= PASSES ? p : undefined;
    }, `${PASSES} scheduling passes`, 120_000, 50);
    const sorted = passes.slice(0, PASSES).sort((a, b) => a - b);
    const after = await c.head.memory();
    return {
      jobs: n,
      addSeconds,
      headRssAfterAdd: mem.rss,
      headPeakRss: after.peak,
      placementMs: sorted[sorted.length >> 1]!,
      passes: sorted.length,
    };
  } finally {
    await c.stop();
  }
}
