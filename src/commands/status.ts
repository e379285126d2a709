import { Command } from 'commander';
import { withHeadOptions } from '../head-options.js';

export const command = withHeadOptions(
  new Command('status')
    .alias('server-status')
    .description('Batches and their jobs: how many are queued, running, done, failed, cancelled')
    .argument('[batch]', 'only this batch, and list its jobs')
    .option('--namespace <name>', 'only this namespace')
    .option('--json', 'print [{namespace, batch_name, state, counts, jobs}] on stdout'),
)
  .exitOverride()
  .action(async (batch: string | undefined, opts: { namespace?: string; json?: boolean; head?: string; token?: string }) => {
    const { connect } = await import('../client.js');
    const { API } = await import('../../shared/protocol/http-api.js');
    const { formatStatus } = await import('../remote/tables.js');
    const { checkName } = await import('../remote/target.js');
    const query = {
      namespace: opts.namespace === undefined ? undefined : checkName('--namespace', opts.namespace),
      batch: batch === undefined ? undefined : checkName('batch', batch),
    };
    const batches = await connect(opts).call(API.status, { query });
    if (opts.json) process.stdout.write(JSON.stringify(batches, null, 2) + '\n');
    else process.stdout.write(formatStatus(batches, { jobs: batch !== undefined }) + '\n');
  });
