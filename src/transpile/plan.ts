// Target-neutral planning: jobs grouped by resource shape (one array each), each shape's
// jobs split into array tasks, and the reserved names of a transpiled folder.
import { UserError } from '../../shared/errors.js';
import { isSafeName, unsafeNameReason } from '../../shared/paths.js';
import type { BatchSpec, JobSpec } from '../../shared/spec/types.js';
import { splitIntoTasks, type Grouping } from './tasks.js';

/** How one job asks to be run by a target: jobs with equal `key` share an array. */
export interface JobShape<O> {
  key: string;
  /** short readable name of the shape, safe in a file name (`c4-m8G-t2h`) */
  label: string;
  options: O;
  /** the cpus the job is given: its argument and DISTRIBUTE_CPUS */
  cpus: number;
  /** seconds one job may run; null = no limit */
  timeLimit: number | null;
}

/** Jobs of an array wait for these tasks of an earlier array (`afterok`). */
export interface ArrayDependency {
  /** index of the array in the plan (always an earlier one) */
  array: number;
  /** its task ids, or null for every task of it (the whole array) */
  tasks: number[] | null;
}

export interface Shape<O> extends JobShape<O> {
  /** unique among the batch's shapes: `c4-m8G`, `c4-m8G-2`, `c4-m8G-d1` */
  name: string;
  jobs: JobSpec[];
  /** job names of each array task, task id = position */
  tasks: string[][];
  /** what every task of this array waits for; empty without `after:` */
  after: ArrayDependency[];
  /** the job's depth in the dependency graph: 0 waits for nothing */
  depth: number;
}

/**
 * Groups jobs into arrays and splits each into tasks. Jobs share an array when they have the
 * same shape and wait for exactly the same tasks, so a task's dependency (which Slurm and PBS
 * set per array) is exact: no job waits for a task that holds none of its dependencies.
 * Arrays come in dependency order (depth by depth, then first appearance), each after the
 * arrays it waits for. With batching a task runs several jobs, and a dependent waits for the
 * whole task holding its dependency (and is cancelled when any job of that task fails).
 */
export function planShapes<O>(batch: BatchSpec, shapeOf: (job: JobSpec) => JobShape<O>, grouping: Grouping): Shape<O>[] {
  const depths = jobDepths(batch.jobs);
  const levels: JobSpec[][] = [];
  for (const job of batch.jobs) (levels[depths.get(job.name)!] ??= []).push(job);
  const shapes: Shape<O>[] = [];
  const names = new Set<string>();
  const taskOf = new Map<string, { array: number; task: number }>();
  for (const [depth, level] of levels.entries()) {
    const byKey = new Map<string, Shape<O>>();
    for (const job of level ?? []) {
      const js = shapeOf(job);
      const after = dependencies(job, taskOf, shapes);
      const key = `${js.key}\u0000${JSON.stringify(after)}`;
      let shape = byKey.get(key);
      if (!shape) {
        const label = depth === 0 ? js.label : `${js.label}-d${depth}`;
        let name = label;
        for (let n = 2; names.has(name); n++) name = `${label}-${n}`;
        names.add(name);
        shape = { ...js, name, jobs: [], tasks: [], after, depth };
        byKey.set(key, shape);
        shapes.push(shape);
      }
      shape.jobs.push(job);
    }
    for (const s of byKey.values()) {
      s.tasks = splitIntoTasks(s.jobs.map((j) => j.name), grouping);
      const array = shapes.indexOf(s);
      s.tasks.forEach((names, task) => names.forEach((n) => taskOf.set(n, { array, task })));
    }
  }
  return shapes;
}

/** The tasks a job waits for, by array; a list that holds every task of an array becomes null. */
function dependencies(job: JobSpec, taskOf: Map<string, { array: number; task: number }>, shapes: Shape<unknown>[]): ArrayDependency[] {
  const byArray = new Map<number, Set<number>>();
  for (const dep of job.after ?? []) {
    const at = taskOf.get(dep);
    if (!at) throw new Error(`job ${job.name} waits for ${dep}, which has no task yet`);
    let set = byArray.get(at.array);
    if (!set) byArray.set(at.array, (set = new Set()));
    set.add(at.task);
  }
  return [...byArray.entries()]
    .sort(([a], [b]) => a - b)
    .map(([array, set]) => ({ array, tasks: set.size === shapes[array]!.tasks.length ? null : [...set].sort((a, b) => a - b) }));
}

/** Each job's depth: 0 without `after:`, else one more than its deepest dependency (Kahn's order, no recursion). */
export function jobDepths(jobs: JobSpec[]): Map<string, number> {
  const depth = new Map<string, number>();
  const waitingFor = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  const ready: string[] = [];
  for (const job of jobs) {
    const after = job.after ?? [];
    waitingFor.set(job.name, after.length);
    for (const d of after) {
      let list = dependents.get(d);
      if (!list) dependents.set(d, (list = []));
      list.push(job.name);
    }
    if (after.length === 0) {
      ready.push(job.name);
      depth.set(job.name, 0);
    }
  }
  for (let i = 0; i < ready.length; i++) {
    const name = ready[i]!;
    for (const next of dependents.get(name) ?? []) {
      depth.set(next, Math.max(depth.get(next) ?? 0, depth.get(name)! + 1));
      const left = waitingFor.get(next)! - 1;
      waitingFor.set(next, left);
      if (left === 0) ready.push(next);
    }
  }
  // validation refuses cycles and unknown names; a batch built in code may still have them
  const stuck = jobs.find((j) => waitingFor.get(j.name)! > 0);
  if (stuck) throw new UserError(`job ${stuck.name} waits for a job that is no job of the batch, or for itself through a cycle`, 2);
  return depth;
}

/** Names at the top of a transpiled folder that no job folder may take. */
export const RESERVED_TOP = ['_distribute', 'submit.sh', 'upload.sh'];

/** Every job name must be a safe folder name, distinct, and not a reserved one. */
export function checkJobNames(batch: BatchSpec): void {
  const seen = new Set<string>();
  for (const job of batch.jobs) {
    if (!isSafeName(job.name)) throw new UserError(`batch ${batch.meta.batch_name}: job name ${unsafeNameReason(job.name)}`);
    if (seen.has(job.name)) throw new UserError(`batch ${batch.meta.batch_name}: two jobs are named ${job.name}`);
    if (RESERVED_TOP.includes(job.name)) throw new UserError(`batch ${batch.meta.batch_name}: a job named ${job.name} would clash with the transpiled folder's own ${job.name}; rename the job`);
    seen.add(job.name);
  }
  if (batch.jobs.length === 0) throw new UserError(`batch ${batch.meta.batch_name}: has no jobs`);
}

/** For a target that cannot express `after:` or `finalize:`: refused, rather than run in an order the batch forbids. */
export function refuseOrder(batch: BatchSpec, target: string, why: string): void {
  const waiting = batch.jobs.find((j) => (j.after?.length ?? 0) > 0);
  const what = [waiting ? `job ${waiting.name} has after:` : '', batch.finalize ? 'the batch has finalize:' : ''].filter(Boolean).join(' and ');
  if (what) throw new UserError(`batch ${batch.meta.batch_name}: ${what}, which ${target} cannot express: ${why}; run it with distribute add, distribute run or distribute slurm`, 2);
}

/** Compact duration for file names: 2h, 90m, 1d12h, 45s. */
export function compactDuration(seconds: number): string {
  const parts: string[] = [];
  let s = seconds;
  for (const [unit, n] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (s >= n) {
      parts.push(`${Math.floor(s / n)}${unit}`);
      s %= n;
    }
  }
  if (s > 0 || parts.length === 0) parts.push(`${s}s`);
  return parts.join('');
}

/** A label part made safe for a file name. */
export function labelPart(s: string): string {
  return s.replace(/[^A-Za-z0-9.]+/g, '');
}
