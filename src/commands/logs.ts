import { Command } from 'commander';
import { withHeadOptions } from '../head-options.js';

export const command = withHeadOptions(
  new Command('logs')
    .description('The output of a job: live from its node while it runs, from the archive once it ended')
    .argument('<batch>', 'the batch name')
    .argument('<job>', 'the job name')
    .option('-f, --follow', 'keep printing as the job writes, until it ends')
    .option('--stderr', 'its standard error instead of its standard output')
    .option('--namespace <name>', 'the batch\'s namespace, when its name alone is ambiguous'),
)
  .exitOverride()
  .action(async (batch: string, job: string, opts: { follow?: boolean; stderr?: boolean; namespace?: string; head?: string; token?: string }) => {
    const { connect } = await import('../client.js');
    const { resolveBatch, batchParams, checkName } = await import('../remote/target.js');
    const { API } = await import('../../shared/protocol/http-api.js');
    const { pipeline } = await import('node:stream/promises');
    const head = connect(opts);
    const target = await resolveBatch(head, batch, opts.namespace);
    const query = { stream: opts.stderr ? 'stderr' : 'stdout', ...(opts.follow ? { follow: '1' } : {}) };
    const res = await head.open(API.logs, { params: { ...batchParams(target), job: checkName('job', job) }, query });
    try {
      await pipeline(res, process.stdout, { end: false });
    } catch (err) {
      // the reader went away (`distribute logs ... | head`): not an error of ours
      if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
    }
  });
