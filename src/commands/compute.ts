import { Command } from 'commander';

export const command = new Command('compute')
  .description('Run a compute daemon: dial the head, take the jobs that fit this machine, send back their results')
  .requiredOption('--config <compute.yaml>', 'the daemon\'s configuration (head, token_file, name, capabilities, work_dir, resources, max_jobs)')
  .exitOverride()
  .option('--log-level <level>', 'trace, debug, info, warn or error (default: log_level in the config, else info)')
  .option('--drain-timeout <duration>', 'on SIGTERM, let running jobs finish for this long (e.g. 30m) before handing the rest back to the head; default: hand them back at once')
  .action(async (opts: { config: string; logLevel?: string; drainTimeout?: string }) => {
    const { loadConfig, ComputeConfig } = await import('../../shared/config.js');
    const { createLogger } = await import('../../shared/log.js');
    const { startComputeDaemon } = await import('../../compute/daemon.js');
    const { untilSignal } = await import('../daemon-signals.js');
    const drainMs = opts.drainTimeout === undefined ? 0 : await parseDrainTimeout(opts.drainTimeout);
    const config = loadConfig(ComputeConfig, opts.config);
    const logger = createLogger('compute', { level: opts.logLevel ?? config.log_level });
    const daemon = await startComputeDaemon(config, opts.config, logger);
    const { pilotEnd } = await import('../../compute/pilot.js');
    const pilot = config.pilot ? pilotEnd(() => daemon.agent.isIdle(), { idleTimeoutMs: config.pilot.idle_timeout, endsAt: config.pilot.ends_at * 1000 }, logger) : null;
    const signal = await Promise.race([untilSignal(), ...(pilot ? [pilot.done] : [])]);
    pilot?.cancel();
    logger.info({ event: 'stopping', signal, drain_ms: drainMs }, 'compute daemon stopping');
    await daemon.stop({ drainMs });
    logger.info({ event: 'stopped' }, 'compute daemon stopped');
  });

async function parseDrainTimeout(text: string): Promise<number> {
  const { parseDuration } = await import('../../shared/spec/units.js');
  const { UserError } = await import('../../shared/errors.js');
  const r = parseDuration(text);
  if (!r.ok) throw new UserError(`--drain-timeout: ${r.error}`);
  return r.value * 1000;
}
