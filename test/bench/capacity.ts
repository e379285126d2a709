// The capacity section: a real head (child process) against a simulated fleet (fleet.ts, in
// this process). Three runs:
//   capacity   N nodes of 4 slots, one batch of zero-length jobs, `add` to the last result
//              taken; the head's CPU time per job (from /proc), its peak RSS, its event-loop
//              delay p99 (loop-probe.mjs inside the head)
//   idle       1,000 nodes heartbeating every second with nothing to run: the head's CPU
//   mass_loss  100 of 1,000 nodes holding jobs fall silent at once: how long until every one
//              of their jobs is assigned to another node, against node_timeout
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchCluster, cpuOf, sleep, writeShellBatch } from './cluster.js';
import { nodeTokens, SimFleet } from './fleet.js';

const PROBE = resolve(fileURLToPath(new URL('.', import.meta.url)), 'loop-probe.mjs');

export interface CapacityFigures {
  nodes: number;
  slots_per_node: number;
  jobs: number;
  seconds: number;
  jobs_per_s: number;
  head_cpu_ms_per_job: number;
  head_peak_rss_bytes: number;
  loop_delay_p99_ms: number;
  /** CPU of the simulated fleet (this process) per job over the same window: it must be far below the head's */
  fleet_cpu_ms_per_job: number;
  /** load average (1 min) when the run ended: the machine is shared */
  load: number;
}

export interface IdleFigures {
  nodes: number;
  seconds: number;
  head_cpu_percent: number;
  /** the simulated fleet's (this process's) share of one core over the same window */
  fleet_cpu_percent: number;
  load: number;
}

export interface MassLossFigures {
  nodes: number;
  nodes_lost: number;
  jobs_requeued: number;
  max_reassign_ms: number;
  node_timeout_ms: number;
  heartbeat_ms: number;
}

const names = (n: number) => Array.from({ length: n }, (_, i) => `sim${String(i).padStart(4, '0')}`);
/** this process's user + system CPU seconds: the simulated fleet's cost */
const ownCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const load = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

async function withFleet<T>(
  opts: { nodes: number; slots: number; runMs: number; head?: Record<string, unknown>; prefix: string },
  run: (c: BenchCluster, fleet: SimFleet, probe: string) => Promise<T>,
): Promise<T> {
  const probeFile = join(process.cwd(), `.loop-probe-${process.pid}.json`);
  process.env.LOOP_PROBE_FILE = probeFile;
  const c = await BenchCluster.start({ nodes: [], head: { log_level: 'info', ...opts.head }, prefix: opts.prefix, headFlags: ['--import', PROBE], cpuProf: process.env.BENCH_PROFILE ? join(process.env.BENCH_PROFILE, opts.prefix.replace(/-$/, '')) : undefined });
  let fleet: SimFleet | null = null;
  try {
    fleet = await SimFleet.start({ head: c.url, nodes: nodeTokens(c.stateDir, names(opts.nodes)), slots: opts.slots, runMs: opts.runMs });
    return await run(c, fleet, probeFile);
  } finally {
    fleet?.close();
    await c.stop();
    delete process.env.LOOP_PROBE_FILE;
    rmSync(probeFile, { force: true });
  }
}

/** One capacity run: `jobs` zero-length jobs on `nodes` simulated nodes of `slots`. */
export async function capacityRun(nodes: number, slots: number, jobs: number): Promise<CapacityFigures> {
  // a generous node_timeout: on a shared machine a stalled head must not make this a liveness test
  return withFleet({ nodes, slots, runMs: 0, head: { node_timeout: 30 }, prefix: `capacity-${nodes}-` }, async (c, fleet, probe) => {
    const file = writeShellBatch(c.root, 'capacity', jobs);
    await sleep(500); // the joins' own work settles
    const cpu0 = await cpuOf(c.head.pid);
    const fleet0 = ownCpu();
    process.kill(c.head.pid, 'SIGUSR2');
    const t0 = performance.now();
    const add = await c.cli(['add', file]);
    if (add.code !== 0) throw new Error(`add failed (${add.code}): ${add.stderr}`);
    await Promise.race([
      fleet.whenTaken(jobs),
      (async () => {
        for (;;) {
          await sleep(1000);
          if (c.head.exited) throw new Error(`the head exited: ${JSON.stringify(c.head.exited)}`);
          if (fleet.errors.length) throw new Error(`fleet: ${fleet.errors.slice(0, 3).join('; ')}`);
        }
      })(),
    ]);
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = await cpuOf(c.head.pid);
    const fleet1 = ownCpu();
    const mem = await c.head.memory();
    await sleep(300);
    const delay = JSON.parse(readFileSync(probe, 'utf8')) as { p99: number };
    const done = c.sql().prepare(`SELECT COUNT(*) AS n FROM jobs WHERE state = 'done'`).get() as { n: number };
    if (done.n !== jobs) throw new Error(`${done.n} of ${jobs} jobs done`);
    return {
      nodes, slots_per_node: slots, jobs, seconds: +seconds.toFixed(2), jobs_per_s: Math.round(jobs / seconds),
      head_cpu_ms_per_job: +(((cpu1.self - cpu0.self) * 1000) / jobs).toFixed(3),
      head_peak_rss_bytes: mem.peak, loop_delay_p99_ms: +delay.p99.toFixed(1),
      fleet_cpu_ms_per_job: +(((fleet1 - fleet0) * 1000) / jobs).toFixed(3), load: load(),
    };
  });
}

/** 1,000 nodes heartbeating every second, nothing to run: the head's share of one core. */
export async function idleRun(nodes: number, seconds = 10): Promise<IdleFigures> {
  return withFleet({ nodes, slots: 4, runMs: 0, head: { heartbeat: 1 }, prefix: 'idle-' }, async (c) => {
    // the joins' own work (a hello, a registration, a pass each) is not idle: wait until it is
    // over (a second of head CPU below a tenth of a core), at most 20 s
    for (let i = 0; i < 20; i++) {
      const a = await cpuOf(c.head.pid);
      await sleep(1000);
      if ((await cpuOf(c.head.pid)).self - a.self < 0.1) break;
    }
    const cpu0 = await cpuOf(c.head.pid);
    const fleet0 = ownCpu();
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const cpu1 = await cpuOf(c.head.pid);
    const fleet1 = ownCpu();
    const wall = (performance.now() - t0) / 1000;
    return {
      nodes, seconds: +wall.toFixed(1), head_cpu_percent: +(((cpu1.self - cpu0.self) / wall) * 100).toFixed(2),
      fleet_cpu_percent: +(((fleet1 - fleet0) / wall) * 100).toFixed(2), load: load(),
    };
  });
}

/**
 * 100 of 1,000 nodes fall silent at once while running jobs: the longest time from the silence
 * to one of their jobs being assigned to another node.
 */
export async function massLossRun(nodes = 1000, lost = 100, nodeTimeoutMs = 3000, heartbeatMs = 1000): Promise<MassLossFigures> {
  const slots = 4;
  // three of four slots busy everywhere: the lost nodes' jobs have somewhere to go at once
  const jobs = nodes * 3;
  return withFleet({ nodes, slots, runMs: 600_000, head: { node_timeout: nodeTimeoutMs / 1000, heartbeat: heartbeatMs / 1000, assign_ahead: 0 }, prefix: 'mass-loss-' }, async (c, fleet) => {
    const holder = new Map<string, string>();
    const reassigned = new Map<string, number>();
    let silencedAt = 0;
    const lostNodes = new Set<string>();
    fleet.onAssign = (node, m) => {
      if (silencedAt && lostNodes.has(holder.get(m.job.name) ?? '') && !reassigned.has(m.job.name)) reassigned.set(m.job.name, performance.now() - silencedAt);
      holder.set(m.job.name, node);
    };
    const file = writeShellBatch(c.root, 'mass-loss', jobs);
    const add = await c.cli(['add', file]);
    if (add.code !== 0) throw new Error(`add failed (${add.code}): ${add.stderr}`);
    const t = Date.now();
    while (fleet.counts.started < jobs) {
      if (Date.now() - t > 120_000) throw new Error(`only ${fleet.counts.started} of ${jobs} jobs started`);
      await sleep(50);
    }
    const victims = fleet.nodes.filter((n) => [...holder.values()].includes(n.name)).slice(0, lost);
    let requeued = 0;
    silencedAt = performance.now();
    for (const n of victims) {
      lostNodes.add(n.name);
      requeued += n.silence().length;
    }
    const limit = nodeTimeoutMs + 30_000;
    while (reassigned.size < requeued) {
      if (performance.now() - silencedAt > limit) break;
      await sleep(50);
    }
    return {
      nodes, nodes_lost: victims.length, jobs_requeued: requeued,
      max_reassign_ms: reassigned.size < requeued ? Infinity : Math.round(Math.max(...reassigned.values())),
      node_timeout_ms: nodeTimeoutMs, heartbeat_ms: heartbeatMs,
    };
  });
}
