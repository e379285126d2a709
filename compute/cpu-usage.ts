// How much of this machine's CPU is busy with work that is not the cluster's, in cores.
//
// Measured between two samples:
//   machine busy  = Δ(user+nice+system+irq+softirq+steal) of the `cpu` line of /proc/stat
//   cluster busy  = Δ CPU time of the jobs' process groups (+ this daemon's own)
//   window        = Δ(busy+idle+iowait) / number of cpus     (wall time, in the same ticks)
//   foreign load  = (machine busy − cluster busy) / window     (0 … cpus cores)
// A group's CPU time is the sum, over its live processes (/proc/<pid>/stat whose pgrp is the
// group), of utime+stime+cutime+cstime: a child that ends is reaped by its parent in the
// group, and its time moves into the parent's cutime, so the sum stays continuous. What a
// group used in a window is the change of that sum, never below 0 (its leader, reaped by
// this daemon, takes its time with it when the job ends). A process that leaves its group
// (setsid) counts as foreign load, as it also escapes pause.
import { readdir, readFile } from 'node:fs/promises';

export interface MachineTicks {
  busy: number;
  total: number;
  cpus: number;
}

/** The aggregate `cpu` line of /proc/stat. */
export function parseProcStat(text: string): MachineTicks {
  const lines = text.split('\n');
  const cpu = lines.find((l) => l.startsWith('cpu '));
  if (!cpu) throw new Error('/proc/stat has no cpu line');
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = cpu.trim().split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  const cpus = lines.filter((l) => /^cpu\d+ /.test(l)).length || 1;
  return { busy, total: busy + idle + iowait, cpus };
}

export interface ProcessTicks {
  pgrp: number;
  /** utime + stime + cutime + cstime */
  ticks: number;
}

/** Group and CPU ticks of one process from its /proc/<pid>/stat text. */
export function parsePidStat(text: string): ProcessTicks | null {
  const close = text.lastIndexOf(')');
  if (close === -1) return null;
  // fields after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
  const f = text.slice(close + 2).split(' ');
  const pgrp = Number(f[2]);
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return Number.isFinite(pgrp) && Number.isFinite(ticks) ? { pgrp, ticks } : null;
}

/** CPU ticks of each of the given process groups (sum over their live processes). */
export async function groupTicks(groups: ReadonlySet<number>, proc = '/proc'): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (groups.size === 0) return out;
  const pids = (await readdir(proc)).filter((n) => /^\d+$/.test(n));
  await Promise.all(
    pids.map(async (pid) => {
      const text = await readFile(`${proc}/${pid}/stat`, 'utf8').catch(() => null);
      const p = text === null ? null : parsePidStat(text);
      if (p && groups.has(p.pgrp)) out.set(p.pgrp, (out.get(p.pgrp) ?? 0) + p.ticks);
    }),
  );
  return out;
}

/** This process's own CPU time, in the ticks of /proc (USER_HZ, 100 on Linux). */
function ownTicks(): number {
  const u = process.cpuUsage();
  return ((u.user + u.system) / 1e6) * 100;
}

export interface LoadSample {
  /** cores busy with work that is not the cluster's, over the window */
  foreign: number;
  /** cores busy with the cluster's jobs (and this daemon) */
  cluster: number;
  /** epoch ms of the window's start and end */
  from: number;
  to: number;
}

/** Successive samples; each `sample()` measures the window since the previous one. */
export class ForeignLoadMeter {
  private last: { at: number; machine: MachineTicks; groups: Map<number, number>; own: number } | null = null;

  constructor(
    private readonly readStat: () => Promise<string> = () => readFile('/proc/stat', 'utf8'),
    private readonly ticksOf: (groups: ReadonlySet<number>) => Promise<Map<number, number>> = groupTicks,
    private readonly now: () => number = Date.now,
  ) {}

  /** The load since the previous call, or null on the first call (it only sets the start). */
  async sample(jobGroups: ReadonlySet<number>): Promise<LoadSample | null> {
    const [statText, groups] = await Promise.all([this.readStat(), this.ticksOf(jobGroups)]);
    const cur = { at: this.now(), machine: parseProcStat(statText), groups, own: ownTicks() };
    const prev = this.last;
    this.last = cur;
    if (!prev) return null;
    const window = (cur.machine.total - prev.machine.total) / cur.machine.cpus;
    if (window <= 0) return null;
    let cluster = Math.max(0, cur.own - prev.own);
    for (const [g, t] of cur.groups) cluster += Math.max(0, t - (prev.groups.get(g) ?? 0));
    const busy = Math.max(0, cur.machine.busy - prev.machine.busy);
    const clamp = (x: number) => Math.min(cur.machine.cpus, Math.max(0, x));
    return { foreign: clamp((busy - cluster) / window), cluster: clamp(cluster / window), from: prev.at, to: cur.at };
  }
}
