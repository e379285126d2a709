import { Command, InvalidArgumentError, Option } from 'commander';

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`"${value}" is not a positive whole number`);
  return n;
}

async function durationMs(value: string): Promise<number> {
  const { parseDuration } = await import('../../shared/spec/units.js');
  const { UserError } = await import('../../shared/errors.js');
  const parsed = parseDuration(value);
  if (!parsed.ok) throw new UserError(`--kill-grace: ${parsed.error}`, 2);
  return parsed.value * 1000;
}

interface RunCliOptions {
  strategy: 'sequential' | 'multiprocessing';
  jobs?: number;
  saveDir: string;
  workDir?: string;
  keepWork?: boolean;
  killGrace?: string;
  cleanSave?: boolean;
}

export const command = new Command('run')
  .description('Run a batch on this machine, no daemons: results in SAVE_DIR/<batch_name>/<job>/, as pull gives them')
  .argument('[batch.yaml]', 'the batch file', 'distribute-jobs.yaml')
  .addOption(new Option('--strategy <name>', 'one job at a time, or several side by side').choices(['sequential', 'multiprocessing']).default('multiprocessing'))
  .option('--jobs <n>', 'multiprocessing: cpus\' worth of jobs at once, a job taking resources.cpus of them (default: one per core)', positiveInteger)
  .option('-s, --save-dir <dir>', 'where results go', '.')
  .option('--clean-save', 'remove SAVE_DIR/<batch_name>/ (the results of an earlier run of this batch) before running')
  .option('--work-dir <dir>', 'where the jobs\' workspaces go (default: a temporary folder)')
  .option('--keep-work', 'leave the workspaces on disk when done')
  .option('--kill-grace <duration>', 'between SIGTERM and SIGKILL when a job hits its time limit or is cancelled', '10s')
  .action(async (file: string, opts: RunCliOptions) => {
    const { runBatchFile } = await import('../local/run-file.js');
    process.exitCode = await runBatchFile(file, {
      strategy: opts.strategy,
      jobs: opts.jobs,
      saveDir: opts.saveDir,
      workDir: opts.workDir,
      keepWork: opts.keepWork,
      cleanSave: opts.cleanSave,
      killGraceMs: opts.killGrace === undefined ? undefined : await durationMs(opts.killGrace),
    });
  });
