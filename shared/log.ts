// Structured logs: one JSON line per event (journald-friendly). Say what happened, with context.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: string;
  /** where lines go; default stdout */
  destination?: DestinationStream;
}

export function createLogger(component: string, opts: LogOptions = {}): Logger {
  const level = opts.level ?? process.env.DISTRIBUTE_LOG_LEVEL ?? 'info';
  const dest = opts.destination ?? pino.destination({ fd: 1, sync: true });
  return pino({ name: component, level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

/** A logger that drops everything, for library calls and tests that do not care. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
