import { Command } from 'commander';
import { withHeadOptions } from '../head-options.js';

export const command = withHeadOptions(
  new Command('rm')
    .description('Delete a batch\'s results from the head (or one job\'s) and free the disk; the whole batch goes with them')
    .argument('<batch>', 'the batch name')
    .option('--job <name>', 'only this job\'s results (the batch stays)')
    .option('--namespace <name>', 'the batch\'s namespace, when its name alone is ambiguous')
    .option('--yes', 'do not ask for confirmation')
    .option('--force', 'cancel jobs still queued or running instead of refusing')
    .option('--json', 'print the outcome as JSON'),
)
  .exitOverride()
  .action(async (batch: string, opts: { job?: string; namespace?: string; yes?: boolean; force?: boolean; json?: boolean; head?: string; token?: string }) => {
    const { connect } = await import('../client.js');
    const { resolveBatch, checkName } = await import('../remote/target.js');
    const { removeResults, confirmOnTerminal, rmReport } = await import('../remote/rm.js');
    const head = connect(opts);
    const target = await resolveBatch(head, batch, opts.namespace);
    const job = opts.job === undefined ? undefined : checkName('--job', opts.job);
    const what = job === undefined ? `every result of batch ${target.namespace}/${target.batch}, and the batch itself` : `the results of job ${job} of ${target.namespace}/${target.batch}`;
    if (!opts.yes && !(await confirmOnTerminal(`delete ${what} from the head? [y/N] `, process.stdin, process.stderr))) {
      process.stderr.write('nothing deleted\n');
      process.exitCode = 1;
      return;
    }
    const out = await removeResults(head, target, { job, force: opts.force === true });
    process.stdout.write(opts.json ? JSON.stringify({ namespace: target.namespace, batch: target.batch, job: job ?? null, ...out }, null, 2) + '\n' : rmReport(target, job, out));
  });
