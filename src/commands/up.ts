import { Command, InvalidArgumentError } from 'commander';

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${value}" is not a port number`);
  return n;
}

export const command = new Command('up')
  .description('Start a whole cluster on this machine: a head and a compute daemon in one process, tokens and your config written')
  .option('--state-dir <dir>', 'where the queue, archive and workspaces live (default: $XDG_DATA_HOME/distribute, i.e. ~/.local/share/distribute)')
  .option('--port <port>', 'the head\'s port on 127.0.0.1', port, 8952)
  .option('--capabilities <list>', 'capabilities to offer besides the detected ones (comma-separated)')
  .exitOverride()
  .action(async (opts: { stateDir?: string; port: number; capabilities?: string }) => {
    const { up } = await import('../up.js');
    const { createLogger } = await import('../../shared/log.js');
    const { untilSignal } = await import('../daemon-signals.js');
    const logger = createLogger('up');
    const capabilities = (opts.capabilities ?? '').split(',').map((c) => c.trim()).filter(Boolean);
    const running = await up({ stateDir: opts.stateDir, port: opts.port, capabilities, logger: (component) => createLogger(component) });
    const signal = await untilSignal();
    logger.info({ event: 'stopping', signal }, 'stopping');
    await running.stop();
  });
