// The transpiled folder for schedulers with a shared file system (Slurm, PBS):
//
//   DIR/<job>/                      one per job: input/, run.py (python), and after it ran
//                                   distribute_save/ and _distribute/{stdout.log,stderr.log,result.json}
//   DIR/_distribute/task.sh         the shell runtime every task sources
//   DIR/_distribute/jobs/<job>.sh   what one job runs, with which environment
//   DIR/_distribute/shared/         files placed more than once, copied into job folders at run time
//   DIR/_distribute/build/          the initialize step's folder (DISTRIBUTE_BUILD)
//   DIR/_distribute/build-step.sh   the initialize step, when the batch has one
//   DIR/_distribute/logs/           the scheduler's own output of each task
//   DIR/_finalize/                  the finalize step's folder, when the batch has one; its
//                                   input/results/<job>/ is filled when it runs
//   DIR/_distribute/finalize-jobs.txt  the jobs whose results the finalize step reads
//   DIR/submit.sh, DIR/upload.sh
//
// Job names cannot start with "_", so no job folder meets `_distribute`.
import type { BatchSpec, JobSpec } from '../../shared/spec/types.js';
import type { Bundle } from './bundle.js';
import type { InputPlan } from './inputs.js';
import type { JobShape, Shape } from './plan.js';
import { buildStepScript, jobScript, taskRuntime } from './runtime.js';
import { shellQuote } from './shell.js';

export const LAYOUT = {
  runtime: '_distribute/task.sh',
  jobs: '_distribute/jobs',
  store: '_distribute/shared',
  build: '_distribute/build',
  buildStep: '_distribute/build-step.sh',
  logs: '_distribute/logs',
  /** the batch's job names, one a line: what the finalize step reads the results of */
  finalizeJobs: '_distribute/finalize-jobs.txt',
} as const;

/**
 * Adds the job folders (the finalize step's `_finalize/` too, given its shape), the store,
 * the build folder and the scripts jobs run. Returns whether there is an initialize step.
 */
export function addBatchFolder(bundle: Bundle, batch: BatchSpec, inputs: InputPlan, shapes: Shape<unknown>[], finalize?: JobShape<unknown>): { build: boolean } {
  const fromStore = (source: string) => inputs.shared.get(source) ?? null;
  for (const [source, key] of inputs.shared) bundle.copy(`${LAYOUT.store}/${key}`, source);
  const addJob = (job: JobSpec, shape: { cpus: number; timeLimit: number | null }) => {
    const placements = inputs.jobs.get(job.name) ?? [];
    bundle.dir(`${job.name}/input`);
    bundle.dir(`${job.name}/distribute_save`);
    for (const p of placements) if (!inputs.shared.has(p.source)) bundle.copy(`${job.name}/${p.dest}`, p.source);
    bundle.text(`${LAYOUT.jobs}/${job.name}.sh`, jobScript(batch, job, placements, fromStore, shape.cpus, shape.timeLimit));
  };
  for (const shape of shapes) for (const job of shape.jobs) addJob(job, shape);
  if (batch.finalize) {
    if (!finalize) throw new Error(`batch ${batch.meta.batch_name}: its finalize step needs a shape`);
    addJob(batch.finalize, finalize);
    bundle.text(LAYOUT.finalizeJobs, batch.jobs.map((j) => `${j.name}\n`).join(''));
  }
  bundle.dir(LAYOUT.build);
  for (const p of inputs.build) bundle.copy(`${LAYOUT.build}/${p.dest}`, p.source);
  const step = buildStepScript(batch, inputs.build, () => null, shapes[0]?.cpus ?? 1);
  if (step) bundle.text(LAYOUT.buildStep, step);
  bundle.dir(LAYOUT.logs);
  bundle.text(LAYOUT.runtime, taskRuntime(batch));
  return { build: step !== null };
}

/** Lines that set the folders task.sh needs, from the expression of the submit folder. */
export function folderVariables(rootExpr: string): string[] {
  return [
    `root=${rootExpr}`,
    `store=$root/${shellQuote(LAYOUT.store)}`,
    `job_scripts=$root/${shellQuote(LAYOUT.jobs)}/`,
    `build_dir=$root/${shellQuote(LAYOUT.build)}`,
  ];
}
