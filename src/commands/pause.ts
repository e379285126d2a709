import { Command } from 'commander';

export const command = new Command('pause')
  .description('Take this workstation back for a while: stop the cluster\'s jobs here and place no new ones, until the duration ends or `distribute resume`')
  .argument('[duration]', 'how long, as --duration (`distribute pause 4h`)')
  .option('--duration <time>', 'how long (90s, 30m, 2h, HH:MM:SS); default 1h, at most the node\'s max_pause')
  .option('--socket <path>', 'the compute daemon\'s control socket (default: /run/distribute/control.sock of an installed daemon, else the one of your \`distribute up\`)')
  .option('--status', 'only tell whether the node is paused, by whom, since and until when')
  .option('--json', 'print the node\'s pause status as JSON')
  .action(async (given: string | undefined, opts: { duration?: string; socket?: string; status?: boolean; json?: boolean }) => {
    if (given !== undefined) {
      if (opts.duration !== undefined) {
        const { UserError } = await import('../../shared/errors.js');
        throw new UserError(`give the duration once: ${given} or --duration ${opts.duration}`, 2);
      }
      opts.duration = given;
    }
    const { controlRequest, controlSocketFor, thisClient } = await import('../control.js');
    const { describePause, describeStatus } = await import('../control-format.js');
    const path = controlSocketFor(opts.socket);
    if (opts.status) {
      if (opts.duration !== undefined) {
        const { UserError } = await import('../../shared/errors.js');
        throw new UserError('--status and --duration do not go together');
      }
      const { status } = await controlRequest(path, { op: 'status', client: thisClient() });
      process.stdout.write(opts.json ? JSON.stringify(status) + '\n' : describeStatus(status) + '\n');
      return;
    }
    const durationMs = opts.duration === undefined ? null : await parseDurationFlag(opts.duration);
    const { status } = await controlRequest(path, { op: 'pause', duration_ms: durationMs, client: thisClient() });
    process.stdout.write(opts.json ? JSON.stringify(status) + '\n' : describePause(status) + '\n');
  });

async function parseDurationFlag(text: string): Promise<number> {
  const { parseDuration } = await import('../../shared/spec/units.js');
  const { UserError } = await import('../../shared/errors.js');
  const r = parseDuration(text);
  if (!r.ok) throw new UserError(`--duration: ${r.error}`);
  if (r.value <= 0) throw new UserError(`--duration: a pause must last longer than 0 (got ${text})`);
  return Math.round(r.value * 1000);
}
