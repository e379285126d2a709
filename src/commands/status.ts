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
    const { z } = await import('zod');
    const { StatusBatch } = await import('../../shared/protocol/api.js');
    const { formatStatus } = await import('../remote/tables.js');
    const { checkName } = await import('../remote/target.js');
    const query = new URLSearchParams();
    if (opts.namespace !== undefined) query.set('namespace', checkName('--namespace', opts.namespace));
    if (batch !== undefined) query.set('batch', checkName('batch', batch));
    const q = query.toString();
    const batches = await connect(opts).json('GET', `/v1/status${q ? `?${q}` : ''}`, z.array(StatusBatch));
    if (opts.json) process.stdout.write(JSON.stringify(batches, null, 2) + '\n');
    else process.stdout.write(formatStatus(batches, { jobs: batch !== undefined }) + '\n');
  });
