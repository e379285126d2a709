import { Command } from 'commander';

export const command = new Command('resume')
  .description('End this workstation\'s pause now: the cluster\'s jobs here continue and new ones may be placed')
  .option('--socket <path>', 'the compute daemon\'s control socket (default /run/distribute/control.sock)')
  .option('--json', 'print the node\'s pause status as JSON')
  .action(async (opts: { socket?: string; json?: boolean }) => {
    const { DEFAULT_CONTROL_SOCKET } = await import('../../shared/protocol/control.js');
    const { controlRequest, thisClient } = await import('../control.js');
    const { describeResume } = await import('../control-format.js');
    const { status, changed } = await controlRequest(opts.socket ?? DEFAULT_CONTROL_SOCKET, { op: 'resume', client: thisClient() });
    process.stdout.write(opts.json ? JSON.stringify({ ...status, changed }) + '\n' : describeResume(status, changed) + '\n');
  });
