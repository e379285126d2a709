import { Command } from 'commander';
import { withHeadOptions } from '../head-options.js';

export const command = withHeadOptions(
  new Command('nodes')
    .alias('node-status')
    .description('The compute nodes the head knows: state, resources, capabilities, running jobs')
    .option('--json', 'print [{name, state, capabilities, resources, running}] on stdout'),
)
  .exitOverride()
  .action(async (opts: { json?: boolean; head?: string; token?: string }) => {
    const { connect } = await import('../client.js');
    const { API } = await import('../../shared/protocol/http-api.js');
    const { formatNodes } = await import('../remote/tables.js');
    const nodes = await connect(opts).call(API.nodes);
    process.stdout.write((opts.json ? JSON.stringify(nodes, null, 2) : formatNodes(nodes)) + '\n');
  });
