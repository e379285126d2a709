import { Command } from 'commander';
import { withHeadOptions } from '../head-options.js';

export const command = withHeadOptions(
  new Command('undrain')
    .description('Let a drained node take jobs again (admins)')
    .argument('<node>', 'the node name, as `distribute nodes` lists it'),
)
  .exitOverride()
  .action(async (node: string, opts: { head?: string; token?: string }) => {
    const { connect } = await import('../client.js');
    const { setDrained } = await import('../remote/drain.js');
    process.stdout.write((await setDrained(connect(opts), node, false)) + '\n');
  });
