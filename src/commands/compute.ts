import { Command } from 'commander';

export const command = new Command('compute')
  .description('Run a compute daemon: dial the head, take the jobs that fit this machine, send back their results')
  .requiredOption('--config <compute.yaml>', 'the daemon\'s configuration (head, token_file, name, capabilities, work_dir, resources, max_jobs)')
  .exitOverride()
  .action(async (opts: { config: string }) => {
    const { loadConfig, ComputeConfig } = await import('../../shared/config.js');
    const { createLogger } = await import('../../shared/log.js');
    const { startComputeDaemon } = await import('../../compute/daemon.js');
    const { untilSignal } = await import('../daemon-signals.js');
    const config = loadConfig(ComputeConfig, opts.config);
    const logger = createLogger('compute', { level: config.log_level });
    const daemon = await startComputeDaemon(config, opts.config, logger);
    const signal = await untilSignal();
    logger.info({ event: 'stopping', signal }, 'compute daemon stopping');
    await daemon.stop();
  });
