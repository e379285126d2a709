// The PBS scripts of a transpiled batch: one job array (`#PBS -J`) per shape, the
// initialize step, submit.sh. An array of one task is a plain job (PBS refuses `-J 0-0`),
// so every script reads its task as `${PBS_ARRAY_INDEX:-0}`.
import type { BatchSpec } from '../../../shared/spec/types.js';
import { LAYOUT, folderVariables } from '../layout.js';
import type { JobShape, Shape } from '../plan.js';
import { commentText, shellQuote } from '../shell.js';
import { count } from '../report.js';
import { formatWalltime, type PbsOptions } from './options.js';

export const PBS_DIR = '_distribute/pbs';
export const PBS_SUBMITTED_FILE = `${PBS_DIR}/submitted`;
export const pbsArrayScriptPath = (shape: Shape<PbsOptions>) => `${PBS_DIR}/array-${shape.name}.sh`;
export const pbsArrayIndexPath = (shape: Shape<PbsOptions>) => `${PBS_DIR}/array-${shape.name}.tsv`;
export const PBS_BUILD_SCRIPT = `${PBS_DIR}/build.sh`;
export const PBS_FINALIZE_SCRIPT = `${PBS_DIR}/finalize.sh`;

const ROOT = '${PBS_O_WORKDIR:?submit this script with qsub from the folder of submit.sh}';

/** PBS wants a job name that starts with a letter. */
function pbsName(name: string): string {
  return /^[A-Za-z]/.test(name) ? name : `b${name}`;
}

function directives(o: PbsOptions, jobsPerTask: number, name: string): string[] {
  const v = o.values;
  const lines = [`#PBS -N ${pbsName(v.job_name ?? name)}`];
  if (v.queue) lines.push(`#PBS -q ${v.queue}`);
  if (v.account) lines.push(`#PBS -A ${v.account}`);
  const select = [`select=1`, `ncpus=${v.ncpus ?? 1}`];
  if (v.mem) select.push(`mem=${v.mem}`);
  if (v.ngpus) select.push(`ngpus=${v.ngpus}`);
  lines.push(`#PBS -l ${select.join(':')}`);
  if (v.walltime) lines.push(`#PBS -l walltime=${formatWalltime(Number(v.walltime) * jobsPerTask)}`);
  if (v.place) lines.push(`#PBS -l place=${v.place}`);
  lines.push('#PBS -j oe', `#PBS -o ${LAYOUT.logs}/`);
  return lines;
}

export function renderPbsArrayScript(batch: BatchSpec, shape: Shape<PbsOptions>): string {
  const o = shape.options;
  const perTask = Math.max(...shape.tasks.map((t) => t.length));
  const head = directives(o, perTask, batch.meta.batch_name);
  if (shape.tasks.length > 1) head.splice(1, 0, `#PBS -J 0-${shape.tasks.length - 1}${o.arrayLimit !== null ? `%${o.arrayLimit}` : ''}`);
  return [
    '#!/bin/bash',
    ...head,
    ...o.extra,
    `# batch ${commentText(batch.meta.batch_name)} (namespace ${commentText(batch.meta.namespace)}): ${count(shape.jobs.length, 'job')} of shape ${shape.name} in ${count(shape.tasks.length, 'task')}` +
      (perTask > 1 ? `, up to ${perTask} jobs one after another per task` : ''),
    `# task id -> job: ${pbsArrayIndexPath(shape)}`,
    ...folderVariables(ROOT),
    ...o.setup,
    `. "$root"/${shellQuote(LAYOUT.runtime)}`,
    `distribute_run_task "$root"/${shellQuote(pbsArrayIndexPath(shape))} "\${PBS_ARRAY_INDEX:-0}"`,
    '',
  ].join('\n');
}

/** The initialize step as one PBS job; as on Slurm, a walltime only when --job-resources gives one. */
export function renderPbsBuildScript(batch: BatchSpec, first: Shape<PbsOptions>, buildWalltime: string | undefined): string {
  const { walltime: _jobTime, ...values } = first.options.values;
  const options = { ...first.options, values: buildWalltime === undefined ? values : { ...values, walltime: buildWalltime } };
  return [
    '#!/bin/bash',
    ...directives(options, 1, `${batch.meta.batch_name}-build`),
    ...first.options.extra,
    `# the initialize step of batch ${commentText(batch.meta.batch_name)}: the arrays start once it succeeded`,
    ...folderVariables(ROOT),
    ...first.options.setup,
    `. "$root"/${shellQuote(LAYOUT.runtime)}`,
    `distribute_run_build "$root"/${shellQuote(LAYOUT.buildStep)}`,
    '',
  ].join('\n');
}

/** The finalize step as one PBS job, with the finalize step's own options. */
export function renderPbsFinalizeScript(batch: BatchSpec, shape: JobShape<PbsOptions>): string {
  return [
    '#!/bin/bash',
    ...directives(shape.options, 1, `${batch.meta.batch_name}-finalize`),
    ...shape.options.extra,
    `# the finalize step of batch ${commentText(batch.meta.batch_name)}: runs once every job has ended, however it ended`,
    ...folderVariables(ROOT),
    ...shape.options.setup,
    `. "$root"/${shellQuote(LAYOUT.runtime)}`,
    `distribute_run_finalize "$root"/${shellQuote(LAYOUT.finalizeJobs)}`,
    '',
  ].join('\n');
}

/**
 * What an array waits for, as qsub's job ids. PBS takes no single subjob as a dependency, so
 * an array waits for each array it depends on as a whole: it starts once all of that array's
 * tasks succeeded, and a failed task cancels it even when its own dependencies are done.
 */
export function pbsDependencyIds(s: Shape<unknown>): string[] {
  return s.after.map((d) => `"\${ids[${d.array}]}"`);
}

export function renderPbsSubmit(batch: BatchSpec, shapes: Shape<PbsOptions>[], build: boolean): string {
  const lines = [
    '#!/bin/bash',
    `# Submits batch ${commentText(batch.meta.batch_name)} to PBS from this folder, which the jobs write their results into:`,
    '# the initialize step first (when the batch has one), then one job array per resource shape.',
    `# The job ids go to ${PBS_SUBMITTED_FILE}, one per line.`,
    'set -euo pipefail',
    'cd "$(dirname "$0")"',
    `: > ${PBS_SUBMITTED_FILE}`,
    'submit() {',
    '  local id',
    '  id=$(qsub "$@")',
    `  echo "$id" >> ${PBS_SUBMITTED_FILE}`,
    '  echo "$id"',
    '}',
    'after=()',
  ];
  const ordered = batch.finalize || shapes.some((s) => s.after.length > 0);
  if (ordered) lines.push('ids=()');
  if (build) lines.push(`build=$(submit ${PBS_BUILD_SCRIPT})`, 'echo "initialize step: PBS job $build"', 'after=(-W depend=afterok:"$build")');
  for (const s of shapes) {
    const deps = pbsDependencyIds(s);
    // PBS deletes a job whose afterok can no longer be met, as Slurm's --kill-on-invalid-dep does
    const args = deps.length === 0 ? '${after[@]+"${after[@]}"}' : `-W depend=afterok:${[...(build ? ['"$build"'] : []), ...deps].join(':')}`;
    lines.push(`id=$(submit ${args} ${pbsArrayScriptPath(s)})`, `echo "array ${s.name}: PBS job $id, ${count(s.tasks.length, 'task')} for ${count(s.jobs.length, 'job')}${deps.length ? ', after the arrays it waits for' : ''}"`);
    if (ordered) lines.push('ids+=("$id")');
  }
  if (batch.finalize) {
    const all = [...(build ? ['"$build"'] : []), ...shapes.map((_, i) => `"\${ids[${i}]}"`)].join(':');
    lines.push(`id=$(submit -W depend=afterany:${all} ${PBS_FINALIZE_SCRIPT})`, 'echo "finalize step: PBS job $id, once every job has ended"');
  }
  lines.push('');
  return lines.join('\n');
}
