// `npm run bench`: every figure of the performance issue in one run, side by side with the
// peers that run here, printed as tables and written to test-output/bench.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dask, gnuParallel, taskSpooler, xargs, type PeerResult } from './peers.js';
import { printTable } from './table.js';
import { placementSection } from './placement.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 2000);
const work = mkdtempSync(join(tmpdir(), 'distribute-bench-'));
const results: Record<string, unknown> = { machine: { cpus: (await import('node:os')).cpus().length, node: process.version }, jobs: JOBS };

try {
  const peers: PeerResult[] = [];
  for (const peer of [xargs, gnuParallel]) peers.push(await peer(JOBS));
  peers.push(await taskSpooler(JOBS, work));
  peers.push(await dask(JOBS, work));
  results.throughput = peers;
  const base = peers.find((p) => p.name.startsWith('xargs'))?.seconds ?? null;
  printTable(`Throughput: ${JOBS} trivial jobs, two at a time`, ['system', 'seconds', 'jobs/s', 'vs xargs', 'note'],
    peers.map((p) => [
      p.name,
      p.seconds === null ? '-' : p.seconds.toFixed(2),
      p.seconds === null ? '-' : (p.jobs / p.seconds).toFixed(0),
      p.seconds === null || base === null ? '-' : `${((base / p.seconds) * 100).toFixed(0)}%`,
      p.note ?? '',
    ]));
  results.placement = placementSection();
} finally {
  rmSync(work, { recursive: true, force: true });
  mkdirSync('test-output', { recursive: true });
  writeFileSync(join('test-output', 'bench.json'), JSON.stringify(results, null, 2) + '\n');
  console.log('\nwritten: test-output/bench.json');
}
