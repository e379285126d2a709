// What the transpile commands print: where the folder went, its arrays, and what to do next.
import type { BatchSpec } from '../../shared/spec/types.js';
import type { Shape } from './plan.js';

/** `1 job`, `3 jobs` */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** What a target cannot honour of a batch, said once when transpiling. */
export function batchNotes(batch: BatchSpec): string[] {
  const notes: string[] = [];
  if (batch.meta.retries > 0 || batch.jobs.some((j) => j.retries > 0)) notes.push('retries are not re-run here: each job runs once; resubmit failed jobs yourself');
  if (batch.meta.nodes !== null || batch.jobs.some((j) => j.nodes !== null)) notes.push('nodes (pinning to lab machines) means nothing here and is left out; use nodelist in --job-resources or the slurm: block');
  if (batch.meta.capabilities.length > 0) notes.push(`capabilities (${batch.meta.capabilities.join(', ')}) are not checked here; the setup lines (module load ...) must provide them`);
  return notes;
}

export function describeShapes(shapes: Shape<unknown>[], script: (s: Shape<unknown>) => string): string[] {
  return shapes.map((s) => {
    const per = Math.max(...s.tasks.map((t) => t.length));
    const after = s.after.map((d) => (d.tasks === null ? shapes[d.array]!.name : `${shapes[d.array]!.name} tasks ${d.tasks.join(',')}`));
    return `  array ${s.name}: ${count(s.jobs.length, 'job')} in ${count(s.tasks.length, 'task')}${per > 1 ? ` (up to ${per} per task)` : ''}${after.length ? `, after ${after.join('; ')}` : ''}: ${script(s)}`;
  });
}

/** The finalize step's line of the transpile commands' report. */
export function describeFinalize(script: string): string {
  return `  finalize step: once every job has ended (afterany): ${script}`;
}

export interface TranspileSummary {
  output: string;
  batch: string;
  jobs: number;
  arrays: { name: string; jobs: number; tasks: number; script: string }[];
}

export function summary(output: string, batch: string, shapes: Shape<unknown>[], script: (s: Shape<unknown>) => string): TranspileSummary {
  return {
    output,
    batch,
    jobs: shapes.reduce((n, s) => n + s.jobs.length, 0),
    arrays: shapes.map((s) => ({ name: s.name, jobs: s.jobs.length, tasks: s.tasks.length, script: script(s) })),
  };
}
