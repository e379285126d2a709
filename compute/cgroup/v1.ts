// cgroup v1: one folder per job in each of the freezer, memory, pids and cpuacct hierarchies,
// under `<hierarchy>/<parent>`. v1 has no cgroup.kill: a kill freezes the cgroup (no fork can
// slip through), SIGKILLs every member, thaws so the signals land, and repeats until it is empty.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupUsage, Containment, JobCgroup, Limits } from './types.js';
import { childCgroups, mkdirFresh, readKey, readNumber, readPids, removeTree, signalPids, tryWrite, waitUntil, write } from './files.js';

export const V1_CONTROLLERS = ['freezer', 'memory', 'pids', 'cpuacct'] as const;
type Controller = (typeof V1_CONTROLLERS)[number];

/** How long a kill may take to empty a cgroup before it is reported stuck. */
const KILL_WAIT_MS = 10_000;

class V1Job implements JobCgroup {
  readonly procsFiles: string[];

  constructor(readonly name: string, private readonly dirs: Record<Controller, string>) {
    this.procsFiles = V1_CONTROLLERS.map((c) => join(dirs[c], 'cgroup.procs'));
  }

  pids(): number[] {
    return readPids(join(this.dirs.freezer, 'cgroup.procs'));
  }

  freeze(): void {
    tryWrite(join(this.dirs.freezer, 'freezer.state'), 'FROZEN');
  }

  thaw(): void {
    tryWrite(join(this.dirs.freezer, 'freezer.state'), 'THAWED');
  }

  signalAll(sig: NodeJS.Signals): number {
    return signalPids(this.pids(), sig);
  }

  async kill(): Promise<void> {
    const emptied = await waitUntil(() => this.pids().length === 0, KILL_WAIT_MS, () => {
      this.freeze();
      this.signalAll('SIGKILL');
      this.thaw();
    });
    if (!emptied) throw new Error(`cgroup ${this.dirs.freezer} still has processes ${this.pids().join(' ')} after SIGKILL`);
  }

  usage(): CgroupUsage {
    const ns = readNumber(join(this.dirs.cpuacct, 'cpuacct.usage'));
    return {
      cpu_seconds: ns === null ? null : ns / 1e9,
      peak_memory_bytes: readNumber(join(this.dirs.memory, 'memory.max_usage_in_bytes')),
    };
  }

  oomKilled(): boolean {
    return (readKey(join(this.dirs.memory, 'memory.oom_control'), 'oom_kill') ?? 0) > 0;
  }

  async remove(): Promise<void> {
    for (const c of V1_CONTROLLERS) await removeTree(this.dirs[c]);
  }
}

export class CgroupV1 implements Containment {
  readonly kind = 'cgroup-v1';
  readonly description: string;

  /** `mount`: where the v1 hierarchies are mounted (/sys/fs/cgroup); `parent`: the subtree in each */
  constructor(private readonly mount: string, private readonly parent: string) {
    this.description = `cgroup v1 (${V1_CONTROLLERS.join(', ')} under ${join(mount, '<controller>', parent)}): kill and pause reach every process of a job, memory and process count are hard limits`;
  }

  private root(c: Controller): string {
    return join(this.mount, c, this.parent);
  }

  /** Makes the subtree in every hierarchy; throws if any of them is not writable. */
  async open(): Promise<void> {
    for (const c of V1_CONTROLLERS) await mkdir(this.root(c), { recursive: true });
  }

  async create(name: string, limits: Limits): Promise<JobCgroup> {
    const dirs = Object.fromEntries(V1_CONTROLLERS.map((c) => [c, join(this.root(c), name)])) as Record<Controller, string>;
    const job = new V1Job(name, dirs);
    // a folder left by an attempt of the same name (a daemon that died): emptied, made afresh
    // (in all four hierarchies again: clearing removes the four folders together)
    await mkdirFresh(dirs.freezer, async () => {
      await job.kill().catch(() => {});
      await job.remove();
    });
    for (const c of V1_CONTROLLERS.slice(1)) await mkdirFresh(dirs[c], () => removeTree(dirs[c]));
    if (limits.memoryBytes !== null) {
      write(join(dirs.memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      // memory+swap at the same figure: swap is no extra room (absent without swap accounting)
      if (!tryWrite(join(dirs.memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes))) tryWrite(join(dirs.memory, 'memory.swappiness'), '0');
    }
    if (limits.maxProcesses !== null) write(join(dirs.pids, 'pids.max'), String(limits.maxProcesses));
    return job;
  }

  async sweep(): Promise<number> {
    let n = 0;
    for (const dir of await childCgroups(this.root('freezer'))) {
      const name = dir.slice(this.root('freezer').length + 1);
      const job = new V1Job(name, Object.fromEntries(V1_CONTROLLERS.map((c) => [c, join(this.root(c), name)])) as Record<Controller, string>);
      n += job.pids().length;
      await job.kill();
      await job.remove();
    }
    // folders in the other hierarchies without a freezer twin
    for (const c of V1_CONTROLLERS) for (const dir of await childCgroups(this.root(c))) await removeTree(dir).catch(() => {});
    return n;
  }

  async close(): Promise<void> {
    for (const c of V1_CONTROLLERS) await removeTree(this.root(c)).catch(() => {});
  }
}
