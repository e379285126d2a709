// Builders of normalized batches for tests that do not go through the YAML parser, and
// process helpers (is a pid alive, wait for a condition with a deadline).
import { existsSync, readFileSync } from 'node:fs';
import { DEFAULT_RESOURCES, type BatchSpec, type Initialize, type JobSpec, type Resources } from '../../shared/spec/types.js';

export function shellJob(name: string, command: string, extra: Partial<JobSpec> = {}, resources: Partial<Resources> = {}): JobSpec {
  return {
    name,
    file: null,
    command,
    requiredFiles: [],
    resources: { ...DEFAULT_RESOURCES, ...resources },
    nodes: null,
    retries: 0,
    slurm: {},
    ...extra,
  };
}

export function batchOf(jobs: JobSpec[], opts: { name?: string; namespace?: string; initialize?: Initialize; kind?: BatchSpec['kind']; dir?: string } = {}): BatchSpec {
  const kind = opts.kind ?? 'shell';
  return {
    meta: {
      batch_name: opts.name ?? 'b1',
      namespace: opts.namespace ?? 'ns',
      matrix: null,
      capabilities: [],
      priority: 0,
      sort: 'none',
      nodes: null,
      retries: 0,
      notify: [],
    },
    kind,
    initialize: opts.initialize ?? { kind: 'shell', command: null, requiredFiles: [] },
    jobs,
    slurm: {},
    source: { file: `${opts.dir ?? '/nonexistent'}/batch.yaml`, dir: opts.dir ?? '/nonexistent' },
  };
}

/** True while the process exists and is not a zombie waiting to be reaped. */
export function isAlive(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return false;
  try {
    const text = readFileSync(stat, 'utf8');
    // "pid (comm) S ...": the state follows the last ')'
    const state = text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The state letter of a process (R, S, T for stopped, Z), or null if gone. */
export function processState(pid: number): string | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/**
 * Whether a process is held by a pause: stopped by a signal (state T), or in a frozen cgroup
 * (v1 `freezer.state` FROZEN, v2 `cgroup.freeze` 1), as a node with cgroups pauses its jobs.
 */
export function processPaused(pid: number): boolean {
  if (processState(pid) === 'T') return true;
  let lines: string[];
  try {
    lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  } catch {
    return false;
  }
  for (const line of lines) {
    const [, controllers, path] = line.split(':') as [string, string, string];
    try {
      if (controllers.split(',').includes('freezer') && readFileSync(`/sys/fs/cgroup/freezer${path}/freezer.state`, 'utf8').trim() === 'FROZEN') return true;
      if (controllers === '' && readFileSync(`/sys/fs/cgroup/unified${path}/cgroup.freeze`, 'utf8').trim() === '1') return true;
    } catch {
      // not this hierarchy
    }
  }
  return false;
}

/** Polls `cond` every `everyMs` until it is true; throws after `timeoutMs`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The pids written one per line to `file`, once it holds `count` of them. */
export async function readPids(file: string, count: number, timeoutMs = 10_000): Promise<number[]> {
  let pids: number[] = [];
  await waitFor(() => {
    if (!existsSync(file)) return false;
    pids = readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
    return pids.length >= count;
  }, `${count} pids in ${file}`, timeoutMs);
  return pids;
}
