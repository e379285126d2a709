import { Command } from 'commander';

export const command = new Command('head')
  .description('Run the head daemon: the queue, the scheduler and the result archive')
  .requiredOption('--config <head.yaml>', 'head configuration (listen, state_dir, node_timeout, tls, ...)')
  .option('--log-level <level>', 'trace, debug, info, warn or error (default: log_level in the config, else info)')
  .action(async (opts: { config: string; logLevel?: string }) => {
    const { HeadConfig, loadConfig, resolveFrom } = await import('../../shared/config.js');
    const { startHead } = await import('../../head/daemon.js');
    const config = loadConfig(HeadConfig, opts.config);
    config.state_dir = resolveFrom(opts.config, config.state_dir);
    if (config.tls) config.tls = { cert: resolveFrom(opts.config, config.tls.cert), key: resolveFrom(opts.config, config.tls.key) };
    if (opts.logLevel) config.log_level = (await import('../../shared/log.js')).parseLogLevel(opts.logLevel);
    const head = await startHead(config);
    await new Promise<void>((done) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        void head.close().then(done);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
  });
