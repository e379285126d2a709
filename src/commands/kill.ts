import { Command } from 'commander';
import { withHeadOptions } from '../head-options.js';

export const command = withHeadOptions(
  new Command('kill')
    .description('Cancel a batch\'s queued and running jobs (their whole process groups die on the nodes)')
    .argument('<batch>', 'the batch name')
    .option('--job <name>', 'only this job')
    .option('--namespace <name>', 'the batch\'s namespace, when its name alone is ambiguous'),
)
  .exitOverride()
  .action(async (batch: string, opts: { job?: string; namespace?: string; head?: string; token?: string }) => {
    const { connect } = await import('../client.js');
    const { API } = await import('../../shared/protocol/http-api.js');
    const { resolveBatch, batchParams, checkName } = await import('../remote/target.js');
    const head = connect(opts);
    const target = await resolveBatch(head, batch, opts.namespace);
    const body = opts.job === undefined ? {} : { job: checkName('--job', opts.job) };
    const { cancelled } = await head.call(API.kill, { params: batchParams(target), body });
    const what = opts.job === undefined ? `${target.namespace}/${target.batch}` : `${target.namespace}/${target.batch}/${opts.job}`;
    process.stdout.write(`cancelled ${cancelled} job${cancelled === 1 ? '' : 's'} of ${what}\n`);
  });
