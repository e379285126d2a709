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
    // listening before the daemon starts: a SIGTERM during its start stops it once started
    const signalled = untilSignal();
    const daemon = await startComputeDaemon(config, opts.config, logger);
    const { pilotEnd } = await import('../../compute/pilot.js');
    const pilot = config.pilot ? pilotEnd(() => daemon.agent.isIdle(), { idleTimeoutMs: config.pilot.idle_timeout, endsAt: config.pilot.ends_at * 1000 }, logger) : null;
    const signal = await Promise.race([signalled, ...(pilot ? [pilot.done] : [])]);
    pilot?.cancel();
    logger.info({ event: 'stopping', signal, drain_ms: drainMs }, 'compute daemon stopping');
    // the stop is bounded: jobs handed back (or drained), results offered once, then out
    const overdue = setTimeout(() => {
      logger.error({ event: 'stop_overdue', bound_ms: drainMs + STOP_GRACE_MS }, 'the clean stop took too long; exiting');
      process.exit(1);
    }, drainMs + STOP_GRACE_MS);
    await daemon.stop({ drainMs });
    clearTimeout(overdue);
    logger.info({ event: 'stopped' }, 'compute daemon stopped');
    // what the stop leaves open (an upload the head never answers, a close handshake it never
    // ends) must not keep the process alive: the daemon used to wait on them for a second signal
    process.exit(0);
  });

/** Beyond --drain-timeout, how long a stop may take: jobs' kill grace (10 s), the results' last upload (10 s), the hang-up. */
const STOP_GRACE_MS = 30_000;

async function parseDrainTimeout(text: string): Promise<number> {
  const { parseDuration } = await import('../../shared/spec/units.js');
  const { UserError } = await import('../../shared/errors.js');
  const r = parseDuration(text);
  if (!r.ok) throw new UserError(`--drain-timeout: ${r.error}`);
  return r.value * 1000;
}
