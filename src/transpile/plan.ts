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

export interface Shape<O> extends JobShape<O> {
  /** unique among the batch's shapes: `c4-m8G`, `c4-m8G-2` */
  name: string;
  jobs: JobSpec[];
  /** job names of each array task, task id = position */
  tasks: string[][];
}

/** Groups jobs by shape in order of first appearance and splits each group into tasks. */
export function planShapes<O>(batch: BatchSpec, shapeOf: (job: JobSpec) => JobShape<O>, grouping: Grouping): Shape<O>[] {
  const byKey = new Map<string, Shape<O>>();
  const names = new Set<string>();
  for (const job of batch.jobs) {
    const js = shapeOf(job);
    let shape = byKey.get(js.key);
    if (!shape) {
      let name = js.label;
      for (let n = 2; names.has(name); n++) name = `${js.label}-${n}`;
      names.add(name);
      shape = { ...js, name, jobs: [], tasks: [] };
      byKey.set(js.key, shape);
    }
    shape.jobs.push(job);
  }
  const shapes = [...byKey.values()];
  for (const s of shapes) s.tasks = splitIntoTasks(s.jobs.map((j) => j.name), grouping);
  return shapes;
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
  checkNoOrder(batch);
}

/**
 * The transpiled scripts do not yet express `after:` or `finalize:` (docs/dependencies.md):
 * refused, rather than run in an order the batch forbids.
 */
function checkNoOrder(batch: BatchSpec): void {
  const waiting = batch.jobs.find((j) => (j.after?.length ?? 0) > 0);
  const what = [waiting ? `job ${waiting.name} has after:` : '', batch.finalize ? 'the batch has finalize:' : ''].filter(Boolean).join(' and ');
  if (what) {
    throw new UserError(`batch ${batch.meta.batch_name}: ${what}, which the transpiled scripts cannot express yet; run it with distribute add or distribute run`, 2);
  }
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
