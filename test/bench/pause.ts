// Pause: a workstation with two running jobs, each a tree of three busy processes (a shell,
// its child and grandchild, all spinning), is paused at its compute daemon's control socket.
// Measured: from the pause request leaving the client (the same call `distribute pause`
// makes) to every process of both jobs in state T, polled in /proc every millisecond; then
// resumed, and again, `runs` times. Also once through the real CLI, from starting
// `distribute pause` (a Node process: its own start-up is most of that figure).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { controlRequest, thisClient } from '../../src/control.js';
import { busyTreeCommand } from '../compute/job-tree.js';
import { BenchCluster, sleep, until } from './cluster.js';
import { spawnCli } from '../helpers/cli.js';
import { processPaused } from '../compute/support.js';

export interface PauseResult {
  processes: number;
  /** pause request → every job process stopped, ms, one per run */
  ms: number[];
  median: number;
  /** `distribute pause` started → every job process stopped, ms */
  cliMs: number;
}

/** `held`: every process stopped (state T) or in a frozen cgroup, as a node with cgroups pauses them. */
async function msUntil(pids: number[], held: boolean, from: number, limitMs = 5000): Promise<number> {
  for (;;) {
    if (pids.every((p) => processPaused(p) === held)) return performance.now() - from;
    if (performance.now() - from > limitMs) return Infinity;
    await sleep(1);
  }
}

export async function pauseRun(dir: string, runs = 5): Promise<PauseResult> {
  const c = await BenchCluster.start({ nodes: [], prefix: 'pause-' });
  const socket = join(c.root, 'desk.sock');
  const trees = [join(dir, 'tree-a'), join(dir, 'tree-b')];
  try {
    await c.startNode({ name: 'desk', cpus: 2, config: { control_socket: socket, max_pause: '1h' } });
    for (const t of trees) mkdirSync(t, { recursive: true });
    const file = join(dir, 'pause.yaml');
    writeFileSync(file, stringify({
      meta: { batch_name: 'pause', namespace: 'bench' },
      shell: { jobs: trees.map((t, i) => ({ name: `spin${i}`, command: busyTreeCommand(t, 120) })) },
    }));
    const add = await c.cli(['add', file]);
    if (add.code !== 0) throw new Error(`add failed: ${add.stderr}`);
    const pidsOf = (t: string) => readFileSync(join(t, 'pids'), 'utf8').split('\n').filter(Boolean).map(Number);
    const pids = await until(() => {
      try {
        const all = trees.flatMap(pidsOf);
        return all.length === 6 ? all : undefined;
      } catch {
        return undefined;
      }
    }, 'both job trees to write their pids', 30_000, 20);
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const request = controlRequest(socket, { op: 'pause', duration_ms: 600_000, client: thisClient() });
      ms.push(await msUntil(pids, true, t0));
      await request;
      await controlRequest(socket, { op: 'resume', client: thisClient() });
      await msUntil(pids, false, performance.now());
    }
    const t0 = performance.now();
    const cli = spawnCli(['pause', '--socket', socket, '--duration', '10m'], { stdio: 'ignore' });
    const exited = new Promise((r) => cli.once('exit', r));
    const cliMs = await msUntil(pids, true, t0, 10_000);
    await exited;
    await controlRequest(socket, { op: 'resume', client: thisClient() });
    const sorted = [...ms].sort((a, b) => a - b);
    return { processes: pids.length, ms, median: sorted[sorted.length >> 1]!, cliMs };
  } finally {
    for (const t of trees) {
      writeFileSync(join(t, 'stop'), '');
      // the daemon dies by SIGKILL and does not take its jobs along; a paused one would stay stopped
      try {
        process.kill(-Number(readFileSync(join(t, 'pids'), 'utf8').split('\n')[0]), 'SIGKILL');
      } catch {
        // gone, or never started
      }
    }
    await c.stop();
  }
}
