import { Argument, Command } from 'commander';

export const command = new Command('install')
  .description('Install the head or a compute daemon as a systemd service on this machine: user, folders, config, unit, launcher (starts nothing)')
  .addArgument(new Argument('<role>', 'what this machine runs').choices(['head', 'compute']))
  .option('--prefix <dir>', 'lay the files out under this folder instead of / (a staging image, a test)', '/')
  .option('--config-only', 'write /etc/distribute/<role>.yaml only (when absent)')
  .option('--dry-run', 'print the steps, change nothing')
  .action(async (role: 'head' | 'compute', opts: { prefix: string; configOnly?: boolean; dryRun?: boolean }) => {
    const { install } = await import('../ops/install.js');
    await install({ role, prefix: opts.prefix, configOnly: !!opts.configOnly, dryRun: !!opts.dryRun });
  });
