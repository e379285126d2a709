// Structured logs: one event per line, with context (node, batch, job, attempt fields).
// Where the lines go decides their shape: a pipe or journald gets one JSON object per line
// (pino's own), a terminal gets the same events as readable lines
// (`12:03:04.120 INFO  compute: job assigned attempt=3 batch=re_sweep`). The readable form is
// made here from pino's JSON by a small formatter, not by a pretty-printing dependency.
// `DISTRIBUTE_LOG_FORMAT=json|pretty` forces one shape; `DISTRIBUTE_LOG_LEVEL` sets the level
// when the caller does not.
import { writeSync } from 'node:fs';
import { pino, type Logger, type DestinationStream } from 'pino';
import { UserError } from './errors.js';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'json' | 'pretty';

export interface LogOptions {
  level?: string;
  /** where lines go; default stdout */
  destination?: DestinationStream;
  /** default: pretty when the destination is a terminal, else json */
  format?: LogFormat;
  /** colours in the pretty format; default: on unless NO_COLOR is set */
  color?: boolean;
  /**
   * JSON lines to stdout written in the background, many lines per write, instead of one
   * synchronous write each: for the daemons, whose per-job lines were a write(2) on the event
   * loop each. Flushed synchronously at exit; a SIGKILL loses at most the lines of the write
   * under way.
   */
  buffered?: boolean;
}

/** A level name as given on the command line or in a config; a UserError naming `where` otherwise. */
export function parseLogLevel(value: string, where = '--log-level'): LogLevel {
  const v = value.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new UserError(`${where}: unknown log level "${value}" (one of ${LOG_LEVELS.join(', ')})`);
}

function isTerminal(dest: DestinationStream | undefined): boolean {
  if (dest === undefined) return process.stdout.isTTY === true;
  return (dest as { isTTY?: boolean }).isTTY === true;
}

function chooseFormat(opts: LogOptions): LogFormat {
  if (opts.format) return opts.format;
  const forced = process.env.DISTRIBUTE_LOG_FORMAT;
  if (forced === 'json' || forced === 'pretty') return forced;
  return isTerminal(opts.destination) ? 'pretty' : 'json';
}

export function createLogger(component: string, opts: LogOptions = {}): Logger {
  const level = parseLogLevel(opts.level ?? process.env.DISTRIBUTE_LOG_LEVEL ?? 'info', opts.level !== undefined ? '--log-level' : 'DISTRIBUTE_LOG_LEVEL');
  const format = chooseFormat(opts);
  let dest: DestinationStream;
  if (format === 'json') {
    dest = opts.destination ?? pino.destination({ fd: 1, sync: opts.buffered !== true });
  } else {
    const color = opts.color ?? !process.env.NO_COLOR;
    const out = opts.destination;
    dest = {
      write(line: string) {
        const text = formatLogLine(line, color);
        if (out) out.write(text);
        else writeSync(1, text);
      },
    };
  }
  return pino({ name: component, level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

/** A logger that drops everything, for library calls and tests that do not care. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLORS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
/** Fields shown in the line's head, or that say nothing on a terminal. */
const HIDDEN = new Set(['level', 'time', 'msg', 'name', 'component', 'pid', 'hostname']);

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v instanceof Object && typeof (v as { message?: unknown }).message === 'string') {
    // a serialized error: its message says what happened; the stack is for --log-level debug in JSON
    return JSON.stringify((v as { message: string }).message);
  }
  return JSON.stringify(v) ?? String(v);
}

/**
 * One pino JSON line as one readable line: `HH:MM:SS.mmm LEVEL component: message k=v ...`.
 * A line that is not JSON is passed through as it is.
 */
export function formatLogLine(line: string, color = false): string {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : line + '\n';
  }
  const t = typeof e.time === 'string' ? e.time : new Date(typeof e.time === 'number' ? e.time : Date.now()).toISOString();
  const clock = /T(\d\d:\d\d:\d\d(?:\.\d+)?)/.exec(t)?.[1] ?? t;
  const lvl = typeof e.level === 'number' ? e.level : 30;
  const name = (LEVEL_NAMES[lvl] ?? String(lvl)).padEnd(5);
  const level = color ? `\x1b[${LEVEL_COLORS[lvl] ?? '0'}m${name}\x1b[0m` : name;
  const component = typeof e.component === 'string' ? `${e.component}: ` : '';
  const fields = Object.entries(e)
    .filter(([k, v]) => !HIDDEN.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${formatValue(v)}`);
  const msg = typeof e.msg === 'string' ? e.msg : '';
  return `${[clock, level, `${component}${msg}`, ...fields].join(' ')}\n`;
}
