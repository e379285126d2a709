// cgroup v2: one cgroup per job under a subtree of the unified hierarchy: the daemon's own
// cgroup when systemd delegates it (Delegate=yes; the daemon then moves itself into a `daemon`
// leaf, as v2 allows processes only in leaves), or `<mount>/<parent>`. Kill is `cgroup.kill`
// (SIGKILL to every member, atomically), pause is `cgroup.freeze`; memory.max with
// memory.swap.max 0 and pids.max where those controllers are enabled.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupUsage, Containment, JobCgroup, Limits } from './types.js';
import { childCgroups, mkdirFresh, readKey, readNumber, readPids, readText, removeTree, signalPids, tryWrite, waitUntil, write } from './files.js';

const KILL_WAIT_MS = 10_000;
/** the controllers a job's cgroup uses when its parent has them */
export const V2_CONTROLLERS = ['memory', 'pids', 'cpu'] as const;

class V2Job implements JobCgroup {
  readonly procsFiles: string[];

  constructor(readonly name: string, private readonly dir: string) {
    this.procsFiles = [join(dir, 'cgroup.procs')];
  }

  pids(): number[] {
    return readPids(join(this.dir, 'cgroup.procs'));
  }

  freeze(): void {
    tryWrite(join(this.dir, 'cgroup.freeze'), '1');
  }

  thaw(): void {
    tryWrite(join(this.dir, 'cgroup.freeze'), '0');
  }

  signalAll(sig: NodeJS.Signals): number {
    return signalPids(this.pids(), sig);
  }

  async kill(): Promise<void> {
    const hasKill = existsSync(join(this.dir, 'cgroup.kill'));
    const emptied = await waitUntil(() => this.pids().length === 0, KILL_WAIT_MS, () => {
      if (hasKill) {
        tryWrite(join(this.dir, 'cgroup.kill'), '1');
      } else {
        // before 5.14: freeze, signal, thaw
        this.freeze();
        this.signalAll('SIGKILL');
        this.thaw();
      }
    });
    if (!emptied) throw new Error(`cgroup ${this.dir} still has processes ${this.pids().join(' ')} after SIGKILL`);
  }

  usage(): CgroupUsage {
    const us = readKey(join(this.dir, 'cpu.stat'), 'usage_usec');
    return { cpu_seconds: us === null ? null : us / 1e6, peak_memory_bytes: readNumber(join(this.dir, 'memory.peak')) };
  }

  oomKilled(): boolean {
    return (readKey(join(this.dir, 'memory.events'), 'oom_kill') ?? 0) > 0;
  }

  async remove(): Promise<void> {
    await removeTree(this.dir);
  }
}

export class CgroupV2 implements Containment {
  readonly kind = 'cgroup-v2';
  /** the controllers the jobs' cgroups get */
  controllers: string[] = [];

  /** `root`: the subtree's folder, e.g. /sys/fs/cgroup/system.slice/distribute-compute.service */
  constructor(readonly root: string, private readonly moveSelf: boolean = false) {}

  get description(): string {
    const limits = [this.controllers.includes('memory') ? 'memory' : null, this.controllers.includes('pids') ? 'process count' : null].filter((x) => x !== null);
    return `cgroup v2 (${this.root}, controllers: ${this.controllers.join(' ') || 'none'}): kill and pause reach every process of a job` +
      (limits.length ? `, ${limits.join(' and ')} ${limits.length > 1 ? 'are hard limits' : 'is a hard limit'}` : ', no limits');
  }

  private jobsDir(): string {
    return this.moveSelf ? join(this.root, 'jobs') : this.root;
  }

  /**
   * Makes the subtree and enables the controllers its parent offers. With `moveSelf` the
   * daemon's processes move to `<root>/daemon` first, so that the root may have children with
   * controllers.
   */
  async open(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    if (this.moveSelf) {
      await mkdir(join(this.root, 'daemon'), { recursive: true });
      for (const pid of readPids(join(this.root, 'cgroup.procs'))) tryWrite(join(this.root, 'daemon', 'cgroup.procs'), String(pid));
      await mkdir(this.jobsDir(), { recursive: true });
      this.enable(this.root);
    }
    this.controllers = this.enable(this.jobsDir());
  }

  /** Enables in `dir`'s children what `dir` has; returns what its children get. */
  private enable(dir: string): string[] {
    const offered = (readText(join(dir, 'cgroup.controllers')) ?? '').trim().split(/\s+/);
    const wanted = V2_CONTROLLERS.filter((c) => offered.includes(c));
    if (wanted.length) tryWrite(join(dir, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' '));
    // the kernel lists what is on by name; `+` stripped all the same
    const on = (readText(join(dir, 'cgroup.subtree_control')) ?? '').replace(/\+/g, '').trim().split(/\s+/);
    return wanted.filter((c) => on.includes(c));
  }

  async create(name: string, limits: Limits): Promise<JobCgroup> {
    const dir = join(this.jobsDir(), name);
    const job = new V2Job(name, dir);
    // a folder left by an attempt of the same name (a daemon that died): emptied, made afresh
    await mkdirFresh(dir, async () => {
      await job.kill().catch(() => {});
      await job.remove();
    });
    if (limits.memoryBytes !== null && this.controllers.includes('memory')) {
      write(join(dir, 'memory.max'), String(limits.memoryBytes));
      tryWrite(join(dir, 'memory.swap.max'), '0');
    }
    if (limits.maxProcesses !== null && this.controllers.includes('pids')) write(join(dir, 'pids.max'), String(limits.maxProcesses));
    return job;
  }

  async sweep(): Promise<number> {
    let n = 0;
    for (const dir of await childCgroups(this.jobsDir())) {
      if (!this.moveSelf && dir === join(this.root, 'daemon')) continue;
      const job = new V2Job(dir.slice(this.jobsDir().length + 1), dir);
      n += job.pids().length;
      await job.kill();
      await job.remove();
    }
    return n;
  }

  async close(): Promise<void> {
    // a delegated root is systemd's; only the folders made under it go
    if (this.moveSelf) await removeTree(this.jobsDir()).catch(() => {});
    else await removeTree(this.root).catch(() => {});
  }
}
