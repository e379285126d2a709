// Jobs into array tasks. Without batching every job is a task of its own; with batching
// (`--jobs N` tasks, or `batch_size=K` jobs per task) a task runs its jobs one after another.
// The index file maps each task id to its jobs, one `task<TAB>job` line per job.
import { UserError } from '../../shared/errors.js';

export type Grouping =
  | { kind: 'one-per-task' }
  | { kind: 'tasks'; tasks: number }
  | { kind: 'batch-size'; size: number };

/** Splits `jobs` into contiguous tasks whose sizes differ by at most one. */
export function splitIntoTasks<T>(jobs: T[], grouping: Grouping): T[][] {
  if (jobs.length === 0) return [];
  let count: number;
  switch (grouping.kind) {
    case 'one-per-task':
      return jobs.map((j) => [j]);
    case 'tasks':
      count = Math.min(grouping.tasks, jobs.length);
      break;
    case 'batch-size':
      count = Math.ceil(jobs.length / grouping.size);
      break;
  }
  const tasks: T[][] = [];
  const base = Math.floor(jobs.length / count);
  const extra = jobs.length % count;
  let at = 0;
  for (let t = 0; t < count; t++) {
    const n = base + (t < extra ? 1 : 0);
    tasks.push(jobs.slice(at, at + n));
    at += n;
  }
  return tasks;
}

/**
 * The grouping a strategy asks for. `<target>+batching` needs exactly one of `--jobs N`
 * or `batch_size=K`; the plain strategy takes neither.
 */
export function groupingFor(target: string, strategy: string, jobsFlag: number | undefined, batchSize: string | undefined): Grouping {
  const batching = `${target}+batching`;
  if (strategy !== target && strategy !== batching) {
    throw new UserError(`--strategy: "${strategy}" is not a strategy of ${target}; use ${target} or ${batching}`);
  }
  if (strategy === target) {
    if (jobsFlag !== undefined) throw new UserError(`--jobs sets the number of tasks of --strategy ${batching}; it does nothing with --strategy ${target}`);
    if (batchSize !== undefined) throw new UserError(`--job-resources: batch_size needs --strategy ${batching}`);
    return { kind: 'one-per-task' };
  }
  if ((jobsFlag === undefined) === (batchSize === undefined)) {
    throw new UserError(`--strategy ${batching} needs exactly one of --jobs N (how many array tasks) or batch_size=K in --job-resources (how many jobs each task runs)`);
  }
  if (jobsFlag !== undefined) {
    if (!Number.isSafeInteger(jobsFlag) || jobsFlag < 1) throw new UserError(`--jobs: "${jobsFlag}" must be a whole number of at least 1`);
    return { kind: 'tasks', tasks: jobsFlag };
  }
  return { kind: 'batch-size', size: Number(batchSize) };
}

/** The index of one array: `task<TAB>job` per line, in task order. */
export function renderIndex(tasks: string[][]): string {
  return tasks.flatMap((jobs, t) => jobs.map((j) => `${t}\t${j}\n`)).join('');
}
