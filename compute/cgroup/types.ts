// The containment of a job's processes: a cgroup per job and build step (v2 or v1), or, where
// no cgroup is writable, the process group alone. See docs/containment.md.

export type ContainmentKind = 'cgroup-v2' | 'cgroup-v1' | 'process-group';

export interface Limits {
  /** hard memory limit in bytes, swap not counted as room; null: none */
  memoryBytes: number | null;
  /** most processes (and threads) at once; null: none */
  maxProcesses: number | null;
}

/** What a cgroup measured; null where its controller is missing. */
export interface CgroupUsage {
  cpu_seconds: number | null;
  peak_memory_bytes: number | null;
}

/** One job's (or build step's) cgroup. Every method tolerates a cgroup already gone. */
export interface JobCgroup {
  readonly name: string;
  /** the `cgroup.procs` files the job's first process joins before it execs (see joinArgv) */
  readonly procsFiles: readonly string[];
  /** the processes in it now */
  pids(): number[];
  /** stops every process, forks to come included */
  freeze(): void;
  thaw(): void;
  /** sends `sig` to every process in it; the number signalled */
  signalAll(sig: NodeJS.Signals): number;
  /** SIGKILL to every process, setsid'd and double-forked ones included; settles once it is empty */
  kill(): Promise<void>;
  usage(): CgroupUsage;
  /** the kernel killed a process of it at its memory limit */
  oomKilled(): boolean;
  /** removes it (empty it first with kill) */
  remove(): Promise<void>;
}

export interface Containment {
  readonly kind: ContainmentKind;
  /** one line for the start-up log and `doctor`: what a job gets */
  readonly description: string;
  /** the job's cgroup, made fresh; null under process groups */
  create(name: string, limits: Limits): Promise<JobCgroup | null>;
  /** kills what a previous run left in the subtree and removes its cgroups (at start-up) */
  sweep(): Promise<number>;
  /** removes the subtree if nothing is left in it */
  close(): Promise<void>;
}

/** Process groups only: nothing to create. */
export const processGroupsOnly = (why: string): Containment => ({
  kind: 'process-group',
  description: `process groups (${why}): kill and pause reach the job's process group only, memory is not limited`,
  create: async () => null,
  sweep: async () => 0,
  close: async () => {},
});

/**
 * The command line that puts its own process into the cgroup(s), then execs `argv`: the job is
 * inside before it can fork, so nothing it starts escapes. Exit 125 if it cannot join. With
 * `identity`, it joins as root, then drops to the job's uid and gid (no supplementary groups)
 * through setpriv before the job's command runs.
 */
export function joinArgv(procsFiles: readonly string[], argv: string[], identity: { uid: number; gid: number; setpriv: string } | null = null): string[] {
  const command = identity
    ? [identity.setpriv, '--reuid', String(identity.uid), '--regid', String(identity.gid), '--clear-groups', '--', ...argv]
    : argv;
  if (procsFiles.length === 0) return command;
  const script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';
  return ['/bin/sh', '-c', script, 'distribute-job', ...procsFiles, '--', ...command];
}
