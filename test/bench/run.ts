// `npm run bench`: every figure of the performance issue in one run, side by side with the
// peers that run here, printed as tables and written to test-output/bench.json.
//   BENCH_JOBS=2000           jobs of the throughput section
//   BENCH_ONLY=data,pause     some sections only (throughput, scale, placement, recovery, pause, data, capacity)
//   BENCH_CAPACITY_JOBS=10000 jobs of each capacity run (default 100,000)
//   BENCH_CAPACITY_NODES=100,1000  simulated fleet sizes of the capacity section (default 100,500,1000)
//   BENCH_CAPACITY_PARTS=capacity  parts of the capacity section (default capacity,idle,mass_loss)
//   BENCH_DIR=...             where clusters and data go (default .bench/ in the repository)
//   BENCH_PROFILE=DIR         V8 CPU profiles of the daemons (throughput: DIR/throughput/, the nodes' launchers beside them)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { capacityRun, idleRun, massLossRun, type CapacityFigures } from './capacity.js';
import { BENCH_ROOT } from './cluster.js';
import { dataRun, mbps, type DataResult } from './data.js';
import { pauseRun } from './pause.js';
import { dask, gnuParallel, taskSpooler, xargs, type PeerResult } from './peers.js';
import { placementSection, type PlacementFigures } from './placement.js';
import { measureRecovery } from './recovery.js';
import { scaleRun, type ScaleResult } from './scale.js';
import { slurmPeer } from './slurm.js';
import { printTable } from './table.js';
import { distributeThroughput, type ThroughputResult } from './throughput.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 2000);
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null;
const want = (section: string) => ONLY === null || ONLY.has(section);
mkdirSync(BENCH_ROOT, { recursive: true });
const work = mkdtempSync(join(BENCH_ROOT, 'run-'));
const results: Record<string, unknown> = { machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, started: new Date().toISOString(), jobs: JOBS };
/** target → [measured, met] for the summary */
const targets: [string, string, string, boolean | null][] = [];

const f = (x: number | null | undefined, digits = 0) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
const target = (name: string, goal: string, measured: string, met: boolean | null) => targets.push([name, goal, measured, met]);

function section(name: string, run: () => Promise<void>): Promise<void> {
  if (!want(name)) return Promise.resolve();
  const t0 = Date.now();
  return run()
    .catch((err: unknown) => {
      console.error(`\n${name}: failed: ${err instanceof Error ? err.stack : String(err)}`);
      results[name] = { error: String(err instanceof Error ? err.message : err) };
    })
    .finally(() => console.log(`(${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s)`));
}

try {
  await section('throughput', async () => {
    const peers: PeerResult[] = [];
    for (const peer of [xargs, gnuParallel]) peers.push(await peer(JOBS));
    peers.push(await taskSpooler(JOBS, work));
    peers.push(await dask(JOBS, work));
    peers.push(await slurmPeer(JOBS, work));
    const d: ThroughputResult = await distributeThroughput(JOBS, work, process.env.BENCH_PROFILE ? { cpuProf: join(process.env.BENCH_PROFILE, 'throughput') } : {});
    const ours: PeerResult = { name: 'distribute (head + 2 nodes of 1 cpu)', jobs: d.jobs, seconds: d.seconds, note: d.failed ? `${d.failed} failed` : 'add to last result archived' };
    const all = [ours, ...peers];
    const rate = (p: PeerResult | undefined) => (p?.seconds ? p.jobs / p.seconds : null);
    const base = rate(peers.find((p) => p.name.startsWith('xargs')));
    printTable(`Throughput: ${JOBS} trivial jobs (true), two at a time`, ['system', 'seconds', 'jobs/s', 'vs xargs', 'note'],
      all.map((p) => [p.name, f(p.seconds, 2), f(rate(p)), base && rate(p) ? `${((rate(p)! / base) * 100).toFixed(0)}%` : '-', p.note ?? '']));
    const perJob = (s: number) => `${((s / d.jobs) * 1000).toFixed(2)} ms`;
    printTable('distribute: CPU per job during that run (user + system)', ['head', 'nodes (both)', 'launchers + jobs', 'head peak RSS', 'node peak RSS'],
      [[perJob(d.cpu.head), perJob(d.cpu.nodes.reduce((a, b) => a + b, 0)), perJob(d.cpu.jobs), mb(d.headPeakRss), mb(Math.max(...d.nodePeakRss))]]);
    results.throughput = { distribute: d, peers };
    const ourRate = rate(ours)!;
    const daskRate = rate(peers.find((p) => p.name.startsWith('Dask')));
    const slurmRate = rate(peers.find((p) => p.name.startsWith('Slurm')));
    target('throughput', '≥ 500 jobs/s', `${f(ourRate)} jobs/s`, ourRate >= 500);
    target('… vs Dask distributed', 'ahead', daskRate ? `${f(ourRate)} vs ${f(daskRate)} jobs/s` : 'Dask not run', daskRate ? ourRate > daskRate : null);
    target('… vs real Slurm', '≥ 10×', slurmRate ? `${(ourRate / slurmRate).toFixed(1)}×` : 'Slurm not run', slurmRate ? ourRate >= 10 * slurmRate : null);
    target('… vs xargs -P 2', '≥ 40%', base ? `${((ourRate / base) * 100).toFixed(0)}%` : '-', base ? ourRate >= 0.4 * base : null);
  });

  await section('scale', async () => {
    const runs: ScaleResult[] = [];
    for (const n of [1_000, 10_000, 100_000]) runs.push(await scaleRun(n, work));
    printTable('Scale: distribute add of one batch, into a head with 2 nodes', ['jobs', 'add → queued s', 'head RSS after add', 'head peak RSS', 'live pass ms (median)'],
      runs.map((r) => [String(r.jobs), f(r.addSeconds, 2), mb(r.headRssAfterAdd), mb(r.headPeakRss), f(r.placementMs, 2)]));
    results.scale = runs;
    const big = runs.find((r) => r.jobs === 100_000)!;
    const small = runs.find((r) => r.jobs === 1_000)!;
    target('add of 100k jobs', '< 3 s', `${f(big.addSeconds, 2)} s`, big.addSeconds < 3);
    target('head memory at 100k', '< 300 MB', mb(big.headPeakRss), big.headPeakRss < 300e6);
    target('live pass at 100k vs 1k', '≤ 2×', `${f(big.placementMs, 2)} vs ${f(small.placementMs, 2)} ms`, big.placementMs <= 2 * small.placementMs);
  });

  await section('placement', async () => {
    const figures: PlacementFigures[] = placementSection();
    results.placement = figures;
    const at = (n: number) => figures.find((x) => x.queued === n)!.passMs.median;
    target('placement at 100k vs 1k queued', '≤ 2×', `${at(100_000).toFixed(3)} vs ${at(1_000).toFixed(3)} ms`, at(100_000) <= 2 * at(1_000));
  });

  await section('recovery', async () => {
    const r = await measureRecovery({ nodeTimeout: 2, heartbeat: 0.5, runs: 3, cases: ['lost', 'restarted'] });
    printTable(`Recovery: node death → its job started on another node (node_timeout ${r.nodeTimeoutMs / 1000} s, heartbeat ${r.heartbeatMs / 1000} s)`, ['case', 'median ms', 'runs ms'],
      r.figures.map((x) => [x.case, f(x.median), x.ms.map((m) => m.toFixed(0)).join(', ')]));
    results.recovery = r;
    const lost = r.figures.find((x) => x.case === 'lost')!;
    target('recovery (SIGKILL)', `< node_timeout + 1 s = ${r.nodeTimeoutMs + 1000} ms`, `${f(lost.median)} ms`, lost.median < r.nodeTimeoutMs + 1000);
  });

  await section('pause', async () => {
    const p = await pauseRun(ensure(join(work, 'pause')));
    printTable(`Pause: 2 running jobs, ${p.processes} busy processes`, ['from', 'median ms', 'runs ms'], [
      ['pause request at the control socket', f(p.median, 1), p.ms.map((m) => m.toFixed(1)).join(', ')],
      ['`distribute pause` started (Node start-up included)', f(p.cliMs, 0), ''],
    ]);
    results.pause = p;
    target('pause', '< 100 ms', `${f(p.median, 1)} ms (CLI: ${f(p.cliMs)} ms)`, p.median < 100);
  });

  await section('data', async () => {
    const runs: DataResult[] = [];
    for (const shape of ['one file', '10,000 files'] as const) runs.push(await dataRun(shape, ensure(join(work, `data-${runs.length}`))));
    printTable('Data: a 1 GiB result (random, incompressible), MB/s of its bytes', ['result', 'job end → archived', 'pull', 'cp', 'cp + sync', 'pull right after the job', 'head peak', 'node peak', 'CLI peak'],
      runs.map((r) => [r.shape, f(mbps(r.bytes, r.archiveSeconds)), f(mbps(r.bytes, r.pullSeconds)), f(mbps(r.bytes, r.cpSeconds)), f(mbps(r.bytes, r.cpSyncSeconds)), f(mbps(r.bytes, r.pullAfterJobSeconds)), mb(r.peakRss.head), mb(r.peakRss.node), mb(r.peakRss.cli)]));
    results.data = runs;
    for (const r of runs) {
      const cp = mbps(r.bytes, r.cpSeconds);
      const worst = Math.min(mbps(r.bytes, r.archiveSeconds), mbps(r.bytes, r.pullSeconds));
      target(`data, ${r.shape}`, '≥ 50% of cp', `archive ${f(mbps(r.bytes, r.archiveSeconds))}, pull ${f(mbps(r.bytes, r.pullSeconds))}, cp ${f(cp)} MB/s`, worst >= 0.5 * cp);
      const peak = Math.max(r.peakRss.head, r.peakRss.node, r.peakRss.cli);
      target(`memory, ${r.shape}`, '< 150 MB each', mb(peak), peak < 150e6);
    }
  });

  await section('capacity', async () => {
    const jobs = Number(process.env.BENCH_CAPACITY_JOBS ?? 100_000);
    const sizes = (process.env.BENCH_CAPACITY_NODES ?? '100,500,1000').split(',').filter(Boolean).map(Number);
    const parts = new Set((process.env.BENCH_CAPACITY_PARTS ?? 'capacity,idle,mass_loss').split(','));
    const runs: CapacityFigures[] = [];
    if (parts.has('capacity')) {
      for (const n of sizes) {
        runs.push(await capacityRun(n, 4, jobs));
        console.log(JSON.stringify(runs[runs.length - 1]));
      }
      printTable(`Capacity: a real head, simulated nodes of 4 slots, ${jobs} zero-length jobs (add to last result taken)`,
        ['nodes', 'seconds', 'jobs/s', 'head CPU ms/job', 'fleet CPU ms/job', 'head peak RSS', 'loop delay p99 ms', 'load'],
        runs.map((r) => [String(r.nodes), f(r.seconds, 1), f(r.jobs_per_s), f(r.head_cpu_ms_per_job, 3), f(r.fleet_cpu_ms_per_job, 3), mb(r.head_peak_rss_bytes), f(r.loop_delay_p99_ms, 1), f(r.load, 1)]));
      results.capacity = runs;
      const big = runs.find((r) => r.nodes === 1000);
      if (big) {
        target('capacity, 1,000 nodes', '≥ 3,000 jobs/s', `${f(big.jobs_per_s)} jobs/s`, big.jobs_per_s >= 3000);
        target('… head CPU per job', '≤ 0.25 ms', `${f(big.head_cpu_ms_per_job, 3)} ms`, big.head_cpu_ms_per_job <= 0.25);
        target('… head RSS', '< 500 MB', mb(big.head_peak_rss_bytes), big.head_peak_rss_bytes < 500e6);
        target('… event-loop delay p99', '< 50 ms', `${f(big.loop_delay_p99_ms, 1)} ms`, big.loop_delay_p99_ms < 50);
      }
    }
    if (parts.has('idle')) {
      const idle = await idleRun(1000);
      console.log(JSON.stringify(idle));
      results.idle = idle;
      target('1,000 idle nodes', '< 5% of a core', `${f(idle.head_cpu_percent, 2)}% (fleet ${f(idle.fleet_cpu_percent, 2)}%)`, idle.head_cpu_percent < 5);
    }
    if (parts.has('mass_loss')) {
      const loss = await massLossRun(1000, 100);
      console.log(JSON.stringify(loss));
      results.mass_loss = loss;
      target('100 of 1,000 nodes lost', `< node_timeout + 1 s = ${loss.node_timeout_ms + 1000} ms`, `${f(loss.max_reassign_ms)} ms (${loss.jobs_requeued} jobs)`, loss.max_reassign_ms < loss.node_timeout_ms + 1000);
    }
  });

  printTable('Targets', ['figure', 'target', 'measured', 'met'], targets.map(([n, g, m, ok]) => [n, g, m, ok === null ? '-' : ok ? 'yes' : 'NO']));
  results.targets = targets.map(([figure, goal, measured, met]) => ({ figure, goal, measured, met }));
} finally {
  rmSync(work, { recursive: true, force: true });
  mkdirSync('test-output', { recursive: true });
  writeFileSync(join('test-output', 'bench.json'), JSON.stringify(results, null, 2) + '\n');
  console.log('\nwritten: test-output/bench.json');
}

function ensure(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}
