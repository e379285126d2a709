// Runs a whole batch on this machine with the compute runner, no daemons: the initialize
// step once, then the jobs, at most `slots` cpus' worth at a time, each job's results moved
// to `<saveDir>/<batch>/<job>/` as it ends. Both strategies (sequential, multiprocessing)
// are this loop with different slot counts.
//
// Stopping: when `signal` aborts, no job starts any more and every running job (or the
// build) is cancelled (SIGTERM to its group, SIGKILL after the grace); `forceSignal`
// kills them at once. The promise settles only once every process group is gone.
import { availableParallelism } from 'node:os';
import { WHOLE_NODE } from '../../shared/spec/types.js';
import { hostname } from 'node:os';
import { cp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BatchSpec, JobSpec } from '../../shared/spec/types.js';
import { errorMessage } from '../../shared/errors.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import { startAttempt, startBuild, type AttemptResult, type BuildResult, type InputFile, type RunningAttempt, type StartAttemptOptions } from '../../compute/runner.js';
import { FINALIZE_RESULTS } from '../../shared/spec/normalize.js';
import { buildMetaDir } from '../../compute/workspace.js';
import { buildLogsDir, saveAttemptResults, saveBuildLogs } from './results.js';
import { pickFitting, slotsFor } from './slots.js';
import { silentProgress, type ProgressReporter } from './progress.js';
import type { LocalRunOutcome } from './outcome.js';

export { runSucceeded, type LocalRunOutcome } from './outcome.js';

export interface LocalRunOptions {
  /** cpus' worth of jobs running at once */
  slots: number;
  /**
   * true (multiprocessing): a job is given at most `slots` cpus, with a warning when it asked
   * more. false (sequential): a job is given the cpus it asked, one job at a time.
   */
  capCpus: boolean;
  /** results go to `<saveDir>/<batch_name>/<job>/` */
  saveDir: string;
  /** workspaces go under it (docs/architecture.md, A job on a compute node) */
  workDir: string;
  /** recorded in result.json; default this machine's hostname */
  node?: string;
  killGraceMs?: number;
  /** abort: cancel running jobs, start no more */
  signal?: AbortSignal;
  /** abort: SIGKILL running jobs now */
  forceSignal?: AbortSignal;
  progress?: ProgressReporter;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
}

function toInputs(files: { path: string; alias: string }[]): InputFile[] {
  return files.map((f) => ({ alias: f.alias, source: f.path }));
}

function buildFiles(batch: BatchSpec): { inputs: InputFile[]; buildFile: string | null; sif: InputFile | null } {
  const init = batch.initialize;
  return {
    inputs: toInputs(init.requiredFiles),
    buildFile: init.kind === 'python' ? (init.buildFile?.path ?? null) : null,
    sif: init.kind === 'apptainer' ? { alias: init.sif.alias, source: init.sif.path } : null,
  };
}

export async function runBatchLocally(batch: BatchSpec, opts: LocalRunOptions): Promise<LocalRunOutcome> {
  const t0 = Date.now();
  const progress = opts.progress ?? silentProgress;
  const logger = opts.logger ?? silentLogger();
  const node = opts.node ?? hostname();
  const name = batch.meta.batch_name;
  const slots = Math.max(1, Math.floor(opts.slots));
  const outcome: LocalRunOutcome = {
    batch: name,
    resultsDir: join(opts.saveDir, name),
    build: null,
    buildLogs: null,
    done: [],
    failed: [],
    cancelled: [],
    notRun: [],
    interrupted: false,
    wallMs: 0,
  };
  const stopped = () => opts.signal?.aborted === true || opts.forceSignal?.aborted === true;
  const finishOutcome = (): LocalRunOutcome => {
    outcome.interrupted = stopped();
    outcome.wallMs = Date.now() - t0;
    progress.end(outcome);
    return outcome;
  };

  progress.begin(name, batch.jobs.length + (batch.finalize ? 1 : 0), opts.capCpus ? `${slots} slot${slots === 1 ? '' : 's'}` : 'one at a time');
  // a stale build log from an earlier failed run would mislead
  await rm(buildLogsDir(opts.saveDir, name), { recursive: true, force: true });

  // the initialize step
  const build = startBuild({ batch, workDir: opts.workDir, ...buildFiles(batch), logger, killGraceMs: opts.killGraceMs, env: opts.env });
  const stopBuild = () => build.cancel('interrupted');
  const killBuild = () => {
    build.cancel('interrupted');
    build.cancel('interrupted');
  };
  opts.signal?.addEventListener('abort', stopBuild);
  opts.forceSignal?.addEventListener('abort', killBuild);
  if (opts.forceSignal?.aborted) killBuild();
  else if (opts.signal?.aborted) stopBuild();
  outcome.build = await build.done;
  opts.signal?.removeEventListener('abort', stopBuild);
  opts.forceSignal?.removeEventListener('abort', killBuild);
  if (!outcome.build.ok) {
    if (!outcome.build.cancelled) {
      outcome.buildLogs = await saveBuildLogs(buildMetaDir(build.dir), opts.saveDir, name).catch((err: unknown) => {
        progress.warn(`cannot keep the build logs: ${errorMessage(err)}`);
        return build.dir;
      });
    }
    progress.buildFinished(outcome.build, outcome.buildLogs);
    outcome.notRun = batch.jobs.map((j) => j.name);
    return finishOutcome();
  }
  progress.buildFinished(outcome.build, null);

  await runJobs(batch, opts, { slots, node, logger, progress, outcome, stopped });
  if (batch.finalize && !stopped()) await runJobs(finalizeBatch(batch, opts.saveDir, outcome), opts, { slots, node, logger, progress, outcome, stopped });
  return finishOutcome();
}

/**
 * The batch as its finalize step runs: that one job, with the saved results of the others (the
 * layout a pull gives) copied into `input/results/<job>/` and how they ended in its environment.
 */
function finalizeBatch(batch: BatchSpec, saveDir: string, outcome: LocalRunOutcome): BatchSpec & { finalizeStep: FinalizeStep } {
  const names = batch.jobs.map((j) => j.name);
  const resultsDir = join(saveDir, batch.meta.batch_name);
  return {
    ...batch,
    jobs: [batch.finalize!],
    finalizeStep: {
      env: { DISTRIBUTE_JOBS_DONE: String(outcome.done.length), DISTRIBUTE_JOBS_FAILED: String(outcome.failed.length + outcome.cancelled.length + outcome.notRun.length) },
      prepare: async (paths) => {
        for (const name of names) {
          const from = join(resultsDir, name);
          if (await exists(from)) await cp(from, join(paths.input, FINALIZE_RESULTS, name), { recursive: true, verbatimSymlinks: true });
        }
      },
    },
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

type FinalizeStep = NonNullable<StartAttemptOptions['finalize']>;

interface JobLoopContext {
  slots: number;
  node: string;
  logger: Logger;
  progress: ProgressReporter;
  outcome: LocalRunOutcome;
  stopped: () => boolean;
}

/**
 * Runs the batch's jobs, each once the jobs it waits for (after:) are done; a job whose
 * dependency did not end done is cancelled, and so, in turn, are the jobs that wait for it.
 */
function runJobs(batch: BatchSpec & { finalizeStep?: FinalizeStep }, opts: LocalRunOptions, ctx: JobLoopContext): Promise<void> {
  const { slots, progress, outcome } = ctx;
  const initInputs = toInputs(batch.initialize.requiredFiles);
  const done = new Set<string>();
  const waiting: { job: JobSpec; need: number; cpus: number }[] = batch.jobs.map((job) => {
    // cpus: all is the whole run: every slot, or one at a time this machine's cores
    const asked = job.resources.cpus !== WHOLE_NODE ? job.resources.cpus : opts.capCpus ? slots : availableParallelism();
    if (opts.capCpus && asked > slots) {
      progress.warn(`job ${job.name} asks for ${asked} cpus but this run has ${slots} slots; it runs alone with ${slots}`);
    }
    return { job, need: slotsFor(asked, slots), cpus: opts.capCpus ? Math.min(asked, slots) : asked };
  });
  const running = new Set<RunningAttempt>();
  let free = slots;

  return new Promise<void>((resolve) => {
    let settled = false;
    const settleIfIdle = () => {
      if (settled || running.size > 0) return;
      // nothing runs, so nothing waiting can become ready: a validated batch has no cycle, so this is an interruption
      if (waiting.length > 0 && !ctx.stopped() && waiting.some((w) => (w.job.after ?? []).every((d) => done.has(d)))) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onStop);
      opts.forceSignal?.removeEventListener('abort', onForce);
      outcome.notRun.push(...waiting.map((w) => w.job.name));
      waiting.length = 0;
      resolve();
    };

    const finished = async (job: JobSpec, attempt: RunningAttempt, result: AttemptResult, ms: number) => {
      try {
        await saveAttemptResults(attempt.paths, opts.saveDir, batch.meta.batch_name, job.name);
      } catch (err) {
        progress.warn(`cannot save the results of ${job.name}: ${errorMessage(err)}`);
      }
      if (result.success) outcome.done.push(job.name);
      else if (result.cancelled) outcome.cancelled.push(job.name);
      else outcome.failed.push(job.name);
      progress.jobFinished(job.name, result, ms);
      if (result.success) done.add(job.name);
      else cancelDependents(job.name, result.cancelled ? 'was cancelled' : 'failed');
    };

    const cancelDependents = (name: string, how: string) => {
      for (let i = waiting.length - 1; i >= 0; i--) {
        const w = waiting[i]!;
        if (!w.job.after?.includes(name) || !waiting.includes(w)) continue;
        waiting.splice(i, 1);
        outcome.cancelled.push(w.job.name);
        progress.warn(`job ${w.job.name} is cancelled: it waited for ${name}, which ${how}`);
        cancelDependents(w.job.name, 'was cancelled');
        i = Math.min(i, waiting.length);
      }
    };

    const pump = () => {
      if (!ctx.stopped()) {
        const ready = waiting.filter((w) => (w.job.after ?? []).every((d) => done.has(d)));
        const starting = pickFitting(ready.map((w) => w.need), free).map((i) => ready[i]!);
        for (const w of starting) waiting.splice(waiting.indexOf(w), 1);
        for (const w of starting) {
          free -= w.need;
          const t = Date.now();
          const attempt = startAttempt({
            batch,
            job: w.job,
            attempt: 1,
            workDir: opts.workDir,
            node: ctx.node,
            cpus: w.cpus,
            gpus: null,
            inputs: [...toInputs(w.job.requiredFiles), ...initInputs],
            jobFile: w.job.file?.path ?? null,
            logger: ctx.logger,
            killGraceMs: opts.killGraceMs,
            env: opts.env,
            ...(batch.finalizeStep ? { finalize: batch.finalizeStep } : {}),
          });
          running.add(attempt);
          progress.jobStarted(w.job.name);
          void attempt.done
            .then((result) => finished(w.job, attempt, result, Date.now() - t))
            .catch((err: unknown) => progress.warn(`${w.job.name}: ${errorMessage(err)}`))
            .finally(() => {
              running.delete(attempt);
              free += w.need;
              pump();
            });
        }
      }
      settleIfIdle();
    };

    const onStop = () => {
      for (const a of running) a.cancel('interrupted');
      settleIfIdle();
    };
    const onForce = () => {
      // a second cancel kills at once
      for (const a of running) {
        a.cancel('interrupted');
        a.cancel('interrupted');
      }
      settleIfIdle();
    };
    opts.signal?.addEventListener('abort', onStop);
    opts.forceSignal?.addEventListener('abort', onForce);
    if (opts.forceSignal?.aborted) onForce();
    else if (opts.signal?.aborted) onStop();
    pump();
  });
}
