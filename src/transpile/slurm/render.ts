// The Slurm scripts of a transpiled batch: one job-array script per shape, the initialize
// step's script, and submit.sh. Every `#SBATCH` line comes before the first command, where
// sbatch still reads it; the user's setup lines come right after them.
import type { BatchSpec } from '../../../shared/spec/types.js';
import { formatSlurmTime } from '../../../shared/spec/units.js';
import { LAYOUT, folderVariables } from '../layout.js';
import type { JobShape, Shape } from '../plan.js';
import { commentText, shellQuote } from '../shell.js';
import { count } from '../report.js';
import { SLURM_KEYS, type SlurmOptions } from './options.js';

export const SLURM_DIR = '_distribute/slurm';
/** job ids submit.sh submitted, one per line, build step first */
export const SUBMITTED_FILE = `${SLURM_DIR}/submitted`;

export const arrayScriptPath = (shape: Shape<SlurmOptions>) => `${SLURM_DIR}/array-${shape.name}.sh`;
export const arrayIndexPath = (shape: Shape<SlurmOptions>) => `${SLURM_DIR}/array-${shape.name}.tsv`;
export const BUILD_SCRIPT = `${SLURM_DIR}/build.sh`;
export const FINALIZE_SCRIPT = `${SLURM_DIR}/finalize.sh`;

const ROOT = '${SLURM_SUBMIT_DIR:?submit this script with sbatch from the folder of submit.sh}';

function sbatch(key: string, value: string): string {
  return `#SBATCH --${key.replace(/_/g, '-')}=${value}`;
}

/** Directives of a shape in a fixed order; `time` scaled by the jobs a task runs one after another. */
function directives(values: Record<string, string>, jobsPerTask: number, defaults: { job_name: string; output: string }): string[] {
  const v = { ...defaults, ...values };
  const lines: string[] = [];
  for (const key of Object.keys(SLURM_KEYS)) {
    const value = v[key as keyof typeof v];
    if (value === undefined) continue;
    if (key === 'time') lines.push(sbatch(key, value === 'UNLIMITED' ? value : formatSlurmTime(Number(value) * jobsPerTask)));
    else lines.push(sbatch(key, value));
  }
  return lines;
}

export function renderArrayScript(batch: BatchSpec, shape: Shape<SlurmOptions>): string {
  const o = shape.options;
  const perTask = Math.max(...shape.tasks.map((t) => t.length));
  const limit = o.arrayLimit !== null ? `%${o.arrayLimit}` : '';
  const lines = [
    '#!/bin/bash',
    ...directives(o.values, perTask, { job_name: batch.meta.batch_name, output: `${LAYOUT.logs}/%x-%A_%a.out` }).flatMap((l, i) =>
      i === 0 ? [l, `#SBATCH --array=0-${shape.tasks.length - 1}${limit}`] : [l],
    ),
    ...o.extra,
    `# batch ${commentText(batch.meta.batch_name)} (namespace ${commentText(batch.meta.namespace)}): ${count(shape.jobs.length, 'job')} of shape ${shape.name} in ${count(shape.tasks.length, 'task')}` +
      (perTask > 1 ? `, up to ${perTask} jobs one after another per task` : ''),
    `# task id -> job: ${arrayIndexPath(shape)}`,
    ...folderVariables(ROOT),
    ...o.setup,
    `. "$root"/${shellQuote(LAYOUT.runtime)}`,
    `distribute_run_task "$root"/${shellQuote(arrayIndexPath(shape))} "\${SLURM_ARRAY_TASK_ID:?this script runs as a Slurm job array}"`,
    '',
  ];
  return lines.join('\n');
}

/**
 * The initialize step as one Slurm job, run once before every array. It asks what the first
 * array asks but its time: a job's limit says nothing of the build, which is not limited on a
 * compute node either; `buildTime` (seconds or UNLIMITED) comes from the batch's slurm block
 * or --job-resources, else the partition's default applies.
 */
export function renderBuildScript(batch: BatchSpec, first: Shape<SlurmOptions>, buildTime: string | undefined): string {
  const o = first.options;
  const { time: _jobTime, ...values } = o.values;
  return [
    '#!/bin/bash',
    ...directives(buildTime === undefined ? values : { ...values, time: buildTime }, 1, { job_name: `${batch.meta.batch_name}-build`, output: `${LAYOUT.logs}/%x-%j.out` }),
    ...o.extra,
    `# the initialize step of batch ${commentText(batch.meta.batch_name)}: the arrays start once it succeeded`,
    ...folderVariables(ROOT),
    ...o.setup,
    `. "$root"/${shellQuote(LAYOUT.runtime)}`,
    `distribute_run_build "$root"/${shellQuote(LAYOUT.buildStep)}`,
    '',
  ].join('\n');
}

/** The finalize step as one Slurm job, with the finalize step's own options. */
export function renderFinalizeScript(batch: BatchSpec, shape: JobShape<SlurmOptions>): string {
  const o = shape.options;
  return [
    '#!/bin/bash',
    ...directives(o.values, 1, { job_name: `${batch.meta.batch_name}-finalize`, output: `${LAYOUT.logs}/%x-%j.out` }),
    ...o.extra,
    `# the finalize step of batch ${commentText(batch.meta.batch_name)}: runs once every job has ended, however it ended`,
    ...folderVariables(ROOT),
    ...o.setup,
    `. "$root"/${shellQuote(LAYOUT.runtime)}`,
    `distribute_run_finalize "$root"/${shellQuote(LAYOUT.finalizeJobs)}`,
    '',
  ].join('\n');
}

/** `"${after[@]}"`, also under `set -u` in bash before 4.4 when the array is empty */
const AFTER = '${after[@]+"${after[@]}"}';

/** What an array waits for, as sbatch's job ids: `"${ids[0]}"` (every task) or `"${ids[0]}"_3` (one). */
export function dependencyIds(s: Shape<unknown>): string[] {
  return s.after.flatMap((d) => (d.tasks === null ? [`"\${ids[${d.array}]}"`] : d.tasks.map((t) => `"\${ids[${d.array}]}"_${t}`)));
}

export function renderSubmit(batch: BatchSpec, shapes: Shape<SlurmOptions>[], build: boolean): string {
  // a batch without after: and finalize: keeps the plain form
  const ordered = batch.finalize || shapes.some((s) => s.after.length > 0);
  const lines = [
    '#!/bin/bash',
    `# Submits batch ${commentText(batch.meta.batch_name)} to Slurm from this folder, which the jobs write their results into:`,
    '# the initialize step first (when the batch has one), then one job array per resource shape' + (ordered ? ' and set of tasks waited for (after:),' : '.'),
    ...(ordered
      ? [
          '# each submitted after the arrays it waits for, with --dependency=afterok: on their tasks (a dependency that fails',
          '# cancels the tasks waiting for it: --kill-on-invalid-dep=yes), and the finalize step last with afterany: on all.',
        ]
      : []),
    `# The job ids go to ${SUBMITTED_FILE}, one per line.`,
    'set -euo pipefail',
    'cd "$(dirname "$0")"',
    `: > ${SUBMITTED_FILE}`,
    'submit() {',
    '  local id',
    '  id=$(sbatch --parsable "$@")',
    '  id=${id%%;*}',
    `  echo "$id" >> ${SUBMITTED_FILE}`,
    '  echo "$id"',
    '}',
    'after=()',
  ];
  if (ordered) lines.push('ids=()');
  if (build) {
    lines.push(`build=$(submit ${BUILD_SCRIPT})`, 'echo "initialize step: Slurm job $build"', 'after=(--dependency=afterok:"$build" --kill-on-invalid-dep=yes)');
  }
  for (const s of shapes) {
    const what = `${count(s.tasks.length, 'task')} for ${count(s.jobs.length, 'job')}`;
    const deps = dependencyIds(s);
    const args = deps.length === 0 ? AFTER : `--dependency=afterok:${[...(build ? ['"$build"'] : []), ...deps].join(':')} --kill-on-invalid-dep=yes`;
    lines.push(`id=$(submit ${args} ${arrayScriptPath(s)})`, `echo "array ${s.name}: Slurm job $id, ${what}${deps.length ? `, waiting for ${deps.length === 1 ? 'an earlier array' : `${deps.length} earlier arrays or tasks`}` : ''}"`);
    if (ordered) lines.push('ids+=("$id")');
  }
  if (batch.finalize) {
    const all = [...(build ? ['"$build"'] : []), ...shapes.map((_, i) => `"\${ids[${i}]}"`)].join(':');
    lines.push(`id=$(submit --dependency=afterany:${all} ${FINALIZE_SCRIPT})`, 'echo "finalize step: Slurm job $id, once every job has ended"');
  }
  lines.push('');
  return lines.join('\n');
}
