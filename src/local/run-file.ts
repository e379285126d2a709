// `distribute run BATCH.yaml`: load the batch, make a work folder (a temporary one, or under
// --work-dir; never beside the YAML), run it with the chosen strategy, tidy up, and say how
// it went as an exit code. Ctrl-C (SIGINT), SIGTERM and SIGHUP cancel every running job and
// wait for their process groups to be gone; a second one kills them at once.
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadBatch } from '../../shared/spec/load.js';
import { UserError } from '../../shared/errors.js';
import { createLogger, silentLogger } from '../../shared/log.js';
import { runMultiprocessing } from './multiprocessing.js';
import { runSequential } from './sequential.js';
import { runSucceeded, type LocalRunOutcome } from './run-batch.js';
import { progressFor } from './progress.js';

export type Strategy = 'sequential' | 'multiprocessing';

export interface RunFileOptions {
  strategy: Strategy;
  /** multiprocessing slots; refused with sequential */
  jobs?: number;
  saveDir: string;
  /** workspaces under this folder instead of a temporary one */
  workDir?: string;
  /** leave the workspaces on disk */
  keepWork?: boolean;
  /** SIGTERM to SIGKILL, in ms */
  killGraceMs?: number;
  /** remove SAVE_DIR/<batch_name>/ first (the original's --clean-save, kept to this batch's own folder) */
  cleanSave?: boolean;
}

/** Exit code of an interrupted run, as a shell reports a job ended by Ctrl-C. */
export const INTERRUPTED_EXIT = 130;

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export async function runBatchFile(file: string, opts: RunFileOptions): Promise<number> {
  if (opts.strategy === 'sequential' && opts.jobs !== undefined) {
    throw new UserError('--jobs is for --strategy multiprocessing; sequential runs one job at a time', 2);
  }
  const batch = await loadBatch(file);
  const saveDir = resolve(opts.saveDir);
  const name = batch.meta.batch_name;

  const tempWork = opts.workDir === undefined;
  const workRoot = tempWork ? await mkdtemp(join(tmpdir(), 'distribute-run-')) : resolve(opts.workDir!);
  if (!tempWork) await mkdir(workRoot, { recursive: true });
  if (opts.cleanSave) await rm(join(saveDir, name), { recursive: true, force: true });
  await mkdir(saveDir, { recursive: true });

  const stop = new AbortController();
  const force = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (!stop.signal.aborted) {
      process.stderr.write(`\n${sig}: cancelling the running jobs (again to kill them at once)\n`);
      stop.abort();
    } else if (!force.signal.aborted) {
      process.stderr.write(`\n${sig}: killing the running jobs\n`);
      force.abort();
    }
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);

  const logger = process.env.DISTRIBUTE_LOG_LEVEL ? createLogger('run', { destination: process.stderr }) : silentLogger();
  const common = {
    saveDir,
    workDir: workRoot,
    killGraceMs: opts.killGraceMs,
    signal: stop.signal,
    forceSignal: force.signal,
    progress: progressFor(process.stdout, process.stderr),
    logger,
  };
  let outcome: LocalRunOutcome;
  try {
    outcome = opts.strategy === 'sequential' ? await runSequential(batch, common) : await runMultiprocessing(batch, { ...common, slots: opts.jobs });
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
    const workOfBatch = tempWork ? workRoot : join(workRoot, batch.meta.namespace, name);
    if (opts.keepWork) process.stderr.write(`workspaces kept in ${workOfBatch}\n`);
    else await rm(workOfBatch, { recursive: true, force: true });
  }
  if (outcome.interrupted) return INTERRUPTED_EXIT;
  return runSucceeded(outcome) ? 0 : 1;
}
