import { Command } from 'commander';

export const command = new Command('resume')
  .description('End this workstation\'s pause now: the cluster\'s jobs here continue and new ones may be placed')
  .option('--socket <path>', 'the compute daemon\'s control socket (default: /run/distribute/control.sock of an installed daemon, else the one of your \`distribute up\`)')
  .option('--json', 'print the node\'s pause status as JSON')
  .action(async (opts: { socket?: string; json?: boolean }) => {
    const { controlSocketFor } = await import('../control.js');
    const { controlRequest, thisClient } = await import('../control.js');
    const { describeResume } = await import('../control-format.js');
    const { status, changed } = await controlRequest(controlSocketFor(opts.socket), { op: 'resume', client: thisClient() });
    process.stdout.write(opts.json ? JSON.stringify({ ...status, changed }) + '\n' : describeResume(status, changed) + '\n');
  });
