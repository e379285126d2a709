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
    const { z } = await import('zod');
    const { NodeInfo } = await import('../../shared/protocol/api.js');
    const { formatNodes } = await import('../remote/tables.js');
    const nodes = await connect(opts).json('GET', '/v1/nodes', z.array(NodeInfo));
    process.stdout.write((opts.json ? JSON.stringify(nodes, null, 2) : formatNodes(nodes)) + '\n');
  });
