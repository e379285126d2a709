import { Command } from 'commander';
import { withHeadOptions } from '../head-options.js';

export const command = withHeadOptions(
  new Command('retry')
    .description('Queue a batch\'s failed jobs again')
    .argument('<batch>', 'the batch name')
    .option('--namespace <name>', 'the batch\'s namespace, when its name alone is ambiguous'),
)
  .exitOverride()
  .action(async (batch: string, opts: { namespace?: string; head?: string; token?: string }) => {
    const { connect } = await import('../client.js');
    const { API } = await import('../../shared/protocol/http-api.js');
    const { resolveBatch, batchParams } = await import('../remote/target.js');
    const head = connect(opts);
    const target = await resolveBatch(head, batch, opts.namespace);
    const { requeued } = await head.call(API.retry, { params: batchParams(target) });
    process.stdout.write(`requeued ${requeued} failed job${requeued === 1 ? '' : 's'} of ${target.namespace}/${target.batch}\n`);
  });
