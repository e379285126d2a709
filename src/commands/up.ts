import { Command, InvalidArgumentError } from 'commander';

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${value}" is not a port number`);
  return n;
}

export const command = new Command('up')
  .description('Start a whole cluster on this machine: a head and a compute daemon in one process, tokens and your config written, the CLI put on PATH')
  .option('--state-dir <dir>', 'where the queue, archive and workspaces live (default: $XDG_DATA_HOME/distribute, i.e. ~/.local/share/distribute; the head\'s are in its head/ folder)')
  .option('--port <port>', 'the head\'s port on 127.0.0.1', port, 8952)
  .option('--capabilities <list>', 'capabilities to offer besides the detected ones (comma-separated)')
  .option('--log-format <format>', 'json or pretty: every event on stdout in that shape (default on a terminal: to up.log in the state dir, warnings here)')
  .option('--no-link', 'do not link the CLI into ~/.local/bin when PATH does not find it')
  .exitOverride()
  .action(async (opts: { stateDir?: string; port: number; capabilities?: string; logFormat?: string; link: boolean }) => {
    const { resolve, join, dirname } = await import('node:path');
    const { mkdirSync } = await import('node:fs');
    const { homedir } = await import('node:os');
    const { fileURLToPath } = await import('node:url');
    const { up } = await import('../up.js');
    const { defaultStateDir } = await import('../user-state.js');
    const { upLogs, parseLogFormat } = await import('../up-logs.js');
    const { linkCli } = await import('../ops/link-cli.js');
    const { untilSignal } = await import('../daemon-signals.js');
    const stateDir = resolve(opts.stateDir ?? defaultStateDir());
    mkdirSync(stateDir, { recursive: true });
    const logs = upLogs(stateDir, opts.logFormat === undefined ? undefined : parseLogFormat(opts.logFormat));
    const logger = logs.logger('up');
    const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli.js');
    const pathNote = opts.link ? linkCli({ cli, home: homedir(), path: process.env.PATH ?? '' }).note : null;
    const capabilities = (opts.capabilities ?? '').split(',').map((c) => c.trim()).filter(Boolean);
    const running = await up({ stateDir, port: opts.port, capabilities, logger: (component) => logs.logger(component), pathNote, logNote: logs.note });
    const signal = await untilSignal();
    logger.info({ event: 'stopping', signal }, 'stopping');
    await running.stop();
  });
